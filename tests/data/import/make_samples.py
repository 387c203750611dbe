"""Writes the messy sample lists of this folder (run once; the files are committed).

``python tests/data/import/make_samples.py``. Fictional children; the shapes are those of real
office lists: a merged title row above the header, German headers, dates as Excel serial
numbers and as text, empty lines, Windows-1252 with umlauts and ";" delimiters, a UTF-8 BOM.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent


def serial(day: dt.date) -> int:
    return (day - dt.date(1899, 12, 30)).days


def cases_xlsx() -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "Neuzugänge"
    sheet.append(["Neuzugänge Schuljahr 2024/25 - Bildungsbüro (Stand 03.12.)"])
    sheet.merge_cells("A1:N1")
    sheet.append([])
    sheet.append(["Nr.", "Nachname", "Vorname", "Geb.-Datum", "Geschlecht", "Sprache(n)",
                  "Ziel", "Klasse", "Stadtteil", "Schulbesuchsjahre", "Masern", "Status",
                  "Kontakt", "Beziehung", "Telefon", "Bemerkung"])  # fmt: skip
    rows = [
        [1, "Haddad", "Amina", dt.datetime(2016, 3, 14), "w", "Arabisch", "Grundschule",
         "Klasse 3", "Altstadt", 2, None, "neu", "Leyla Haddad", "Mutter", "0261 12345", ""],
        [2, "Kovalenko", "Dmytro", serial(dt.date(2015, 9, 1)), "m", "Ukrainisch, Russisch",
         "Schule", "4.", "Lützel", 3, None, "in Klärung", "", "", "", "Excel-Zahl als Datum"],
        [],
        [3, "Nowak", "Zofia", "ca. 2022", "w", "Polnisch", "Kita", "U3", "Altstadt", None,
         "ja", "sucht Platz", "Anna Nowak", "Mutter", "0170 5551234", ""],
        [4, "Rahimi", "Omid", "14.03.09", "m", "Dari / Paschtu", "BBS", "BVJ", "Lützel", 8,
         None, "ruht", "", "", "", ""],
        [5, "Yilmaz", "Elif", "31.02.2016", "w", "Türkisch", "Grundschule", "3a", "Altstadt", 2,
         None, "neu", "", "", "", "Datum gibt es nicht"],
        [6, "Ionescu", "Matei", dt.datetime(2017, 5, 2), "m", "Rumänisch", "Hort", "2",
         "Altstadt", 1, None, "neu", "", "", "", "unbekanntes Ziel"],
        [7, "Berisha", "Arta", dt.datetime(2016, 7, 7), "w", "Albanisch", "Grundschule", "3",
         "Atlantis", 2, None, "neu", "", "", "", "unbekannter Stadtteil"],
        [None] * 16,
        [8, "Mensah", "Kofi", dt.datetime(2014, 1, 20), "m", "Englisch, Twi", "Schule",
         "Klasse 5", "Lützel", 5, None, "weggezogen", "", "", "", ""],
    ]  # fmt: skip
    for row in rows:
        sheet.append(row)
    book.save(HERE / "faelle_buero.xlsx")


def cases_cp1252() -> None:
    lines = [
        "Familienname;Vorname;Geburtsdatum;Geschlecht;Muttersprache;Schulart;Klassenstufe;"
        "Stadtteil;Schulbesuchsjahre;Masernschutz;Adresse;Bemerkungen",
        "Müller;Jürgen;03.04.16;männlich;Deutsch, Kurdisch;Grundschule;3.;Lützel;2;;"
        "Hauptstraße 5;Großeltern kümmern sich",
        ";;;;;;;;;;;",
        "Özdemir;Ayse;1.12.2015;weiblich;Türkisch;Grundschule;Klasse 4;Altstadt;3;;;",
        "",
        "Weiß;Zoë;2021-06-30;w;Französisch;Kita;Ü3;Altstadt;;nein;;",
        "Schäfer;Björn;;m;Schwedisch;Grundschule;2;Lützel;1;;;Geburtsdatum fehlt",
    ]
    (HERE / "faelle_windows1252.csv").write_bytes("\r\n".join(lines).encode("cp1252"))


def cases_bom() -> None:
    lines = [
        "First name,Last name,Date of birth,Target,Grade,District,Languages,"
        "Years of schooling,Measles,Status",
        "Samir,Aziz,2016-02-11,school,3,Altstadt,Arabic,2,,ready",
        "Lina,Aziz,ca. 2021,kita,ü3,Altstadt,Arabic,,yes,new",
        ",,,,,,,,,",
        "Pavel,Horak,12/05/2015,school,grade 4,Lützel,Czech,3,,closed",
    ]
    (HERE / "cases_utf8_bom.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))


def institutions_xlsx() -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["Schulen und Kitas - freie Plätze für Neuzugewanderte"])
    sheet.merge_cells("A1:H1")
    sheet.append(["Einrichtung", "Art", "Stadtteil", "E-Mail", "Intensivkurs",
                  "Plätze Klasse 1", "Plätze Klasse 2", "Plätze U3", "Plätze Ü3"])  # fmt: skip
    sheet.append(["Grundschule Am Fluss", "GS", "Altstadt", "gs-fluss@schulen.example", "ja",
                  2, 1, None, None])  # fmt: skip
    sheet.append(["Kita Sternschnuppe", "Kindergarten", "Neustadt", "stern@kita.example",
                  "nein", None, None, 1, 3])  # fmt: skip
    sheet.append([])
    sheet.append(["Gymnasium Hügel", "Gymnasium", "Altstadt", "keine-adresse", "nein", 1, None,
                  None, None])  # fmt: skip
    book.save(HERE / "einrichtungen.xlsx")


if __name__ == "__main__":
    cases_xlsx()
    cases_cp1252()
    cases_bom()
    institutions_xlsx()
