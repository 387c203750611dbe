"""Builds ``identity_pairs.csv``: the labelled set the identity keys are measured against.

Run ``python tests/data/build_identity_pairs.py`` to rewrite the file (deterministic). It is
kept independent of ``cases/identity.py`` on purpose: the Cyrillic names are transliterated
here with the published tables themselves, so the keys are tested against the systems, not
against their own folding rules.

Sources of the variants:
- Cyrillic (Ukrainian): ICAO Doc 9303 Part 3, table for Cyrillic (as printed in Ukrainian
  passports since 2013: Я = IA, Ю = IU, Є = IE, Й = I, Х = KH, Г = H); the Ukrainian national
  system (Cabinet resolution 55 of 2010: Ya/Yu/Ye/Yi/Y at the start of a word, zgh for зг);
  the German transcription (Duden: Я = ja, Ж = sch, В = w, З = s, Ц = z, Ч = tsch, Щ = schtsch,
  Х = ch, Й = j).
- Arabic, Dari/Farsi, Pashto, Kurdish, Tigrinya, Turkish and Romanian: spelling variants of the
  same names as they appear side by side in public name lists (Wikipedia's name articles and
  their "other spellings", the German and English spellings of the same public figures), and
  in the name pools of ``benchmarks/generate.py``.

Columns: kind, same (1 = same child, 0 = different children), given_a, family_a, birth_a,
given_b, family_b, birth_b.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "identity_pairs.csv"

# --- Cyrillic: one name, three systems -----------------------------------------------------

UA_GIVEN = [
    "Олександр",
    "Олена",
    "Дмитро",
    "Ірина",
    "Андрій",
    "Катерина",
    "Максим",
    "Софія",
    "Артем",
    "Анастасія",
    "Богдан",
    "Дарина",
    "Микола",
    "Юлія",
    "Тарас",
    "Вікторія",
    "Юрій",
    "Євген",
    "Ярослав",
    "Олег",
    "Галина",
    "Наталія",
    "Сергій",
    "Оксана",
    "Михайло",
    "Іван",
    "Василь",
    "Людмила",
    "Тетяна",
    "Владислав",
    "Ганна",
    "Віталій",
    "Олексій",
    "Яна",
    "Злата",
    "Мирослава",
    "Захар",
    "Данило",
    "Єва",
    "Поліна",
]
UA_FAMILY = [
    "Шевченко",
    "Ковальчук",
    "Ткаченко",
    "Бондаренко",
    "Кравець",
    "Мельник",
    "Лисенко",
    "Гриценко",
    "Мороз",
    "Савченко",
    "Руденко",
    "Петренко",
    "Павленко",
    "Бойко",
    "Марченко",
    "Кузьменко",
    "Олійник",
    "Шаповал",
    "Пономаренко",
    "Ткачук",
    "Левченко",
    "Сидоренко",
    "Юрченко",
    "Федоренко",
    "Василенко",
    "Остапчук",
    "Степаненко",
    "Дорошенко",
    "Гнатюк",
    "Прокопенко",
    "Якименко",
    "Захарченко",
    "Демченко",
    "Кириленко",
    "Мазур",
    "Нестеренко",
    "Щербак",
    "Щербина",
    "Жук",
    "Журавель",
    "Хоменко",
    "Харченко",
    "Чорновол",
    "Черненко",
    "Цибульський",
    "Зайченко",
    "Гаврилюк",
    "Вовк",
    "Яковенко",
    "Згурський",
    "Їжакевич",
    "Юхименко",
]

_ICAO = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie",
    "ж": "zh", "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh",
    "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu", "я": "ia", "'": "",
}  # fmt: skip
_NATIONAL_START = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}
_DUDEN = {
    "а": "a", "б": "b", "в": "w", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "je",
    "ж": "sch", "з": "s", "и": "y", "і": "i", "ї": "ji", "й": "j", "к": "k", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
    "х": "ch", "ц": "z", "ч": "tsch", "ш": "sch", "щ": "schtsch", "ь": "", "ю": "ju",
    "я": "ja", "'": "",
}  # fmt: skip


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def icao(name: str) -> str:
    return _cap("".join(_ICAO[c] for c in name.lower()))


def national(name: str) -> str:
    low = name.lower()
    out = []
    for i, c in enumerate(low):
        if c == "г" and i and low[i - 1] == "з":  # зг is written zgh
            out.append("gh")
        elif i == 0 and c in _NATIONAL_START:
            out.append(_NATIONAL_START[c])
        else:
            out.append(_ICAO[c])
    return _cap("".join(out))


def duden(name: str) -> str:
    low = name.lower()
    out = []
    for i, c in enumerate(low):
        if (
            c == "с"
            and 0 < i < len(low) - 1
            and low[i - 1] in "аеиіоуюяєї"
            and low[i + 1] in ("аеиіоуюяєї")
        ):
            out.append("ss")  # voiceless s between vowels
        elif c == "ь" and i + 1 < len(low) and low[i + 1] == "о":
            out.append("j")
        else:
            out.append(_DUDEN[c])
    return _cap("".join(out))


# --- other scripts: groups of spellings of one name ----------------------------------------

GROUPS: dict[str, list[list[str]]] = {
    "arabic": [
        ["Mohammed", "Muhammad", "Mohamed", "Mohammad", "Muhammed", "Mohamad"],
        ["Ahmad", "Ahmed", "Achmed"],
        ["Hussein", "Husain", "Hussain", "Husein"],
        ["Hassan", "Hasan", "Hassane"],
        ["Aisha", "Aischa", "Ayesha", "Aysha", "Aishah"],
        ["Abdulrahman", "Abdul Rahman", "Abd al-Rahman", "Abdelrahman", "Abderrahmane"],
        ["Fatima", "Fatimah", "Fatema"],
        ["Yousef", "Yusuf", "Youssef", "Yousif", "Jusuf"],
        ["Khaled", "Khalid", "Chaled", "Chalid"],
        ["Omar", "Umar", "Omer"],
        ["Ibrahim", "Ebrahim", "Ibraheem"],
        ["Mustafa", "Mostafa", "Moustafa", "Mustapha"],
        ["Mahmoud", "Mahmud", "Mahmood"],
        ["Abdullah", "Abdallah", "Abdulla", "Abdellah"],
        ["Zainab", "Zaynab", "Zeinab"],
        ["Layla", "Leila", "Laila", "Leyla"],
        ["Noor", "Nur", "Nour"],
        ["Yasmin", "Jasmin", "Yasmine", "Yassmin"],
        ["Tariq", "Tarek", "Tarik", "Tareq"],
        ["Jamal", "Djamal", "Dschamal"],
        ["Walid", "Waleed", "Valid"],
        ["Rashid", "Rasheed", "Raschid"],
        ["Bilal", "Belal"],
        ["Hamza", "Hamsa"],
        ["Mariam", "Maryam", "Meryem", "Miriam"],
        ["Al-Hassan", "Al Hasan", "Alhassan", "El-Hassan", "Hassan"],
        ["Al-Masri", "Almasri", "El Masri", "Masri"],
        ["Haddad", "Hadad", "Al-Haddad"],
        ["Khatib", "Al-Khatib", "Chatib", "El Khatib"],
        ["Najjar", "Nadschar", "Al-Najjar"],
        ["Darwish", "Darwisch", "Derwisch"],
        ["Al-Shami", "Al Shami", "Schami", "Alshami"],
        ["Qasim", "Kassim", "Qassem", "Kasem"],
        ["Al-Tamimi", "Tamimi", "At-Tamimi"],
        ["Hijazi", "Hidschasi", "Hejazi"],
        ["Mansour", "Mansur", "Mansoor"],
        ["Yassin", "Yasin", "Jassin"],
        ["Sharif", "Sherif", "Scharif"],
        ["Khoury", "Khouri", "Khuri", "Churi"],
        ["Al-Rashid", "Ar-Rashid", "Rashid"],
    ],
    "dari_farsi": [
        ["Mohammadi", "Muhammadi", "Mohamadi"],
        ["Hosseini", "Husseini", "Hoseini", "Hosseyni"],
        ["Ahmadi", "Ahmady"],
        ["Rahimi", "Rahimy", "Raheemi"],
        ["Rezaei", "Rezaee", "Rezai", "Resai"],
        ["Karimi", "Kareemi"],
        ["Sultani", "Soltani"],
        ["Noori", "Nuri", "Nouri"],
        ["Jafari", "Jaafari", "Dschafari"],
        ["Azizi", "Asisi"],
        ["Ghulam", "Gholam", "Golam"],
        ["Farid", "Fareed"],
        ["Zahra", "Sahra", "Zahraa"],
        ["Parwana", "Parvana"],
        ["Shabnam", "Schabnam"],
        ["Wahid", "Vahid", "Waheed"],
        ["Habib", "Habeeb"],
        ["Mehdi", "Mahdi"],
        ["Sakina", "Sakineh", "Sakine"],
        ["Hamid", "Hameed"],
        ["Nazanin", "Nasanin"],
    ],
    "pashto": [
        ["Yousafzai", "Yusufzai", "Yousufzay"],
        ["Stanekzai", "Stanakzai", "Stanikzai"],
        ["Barakzai", "Barakzay"],
        ["Khan", "Chan"],
        ["Gul", "Gool"],
        ["Zarghuna", "Zarghona"],
        ["Naqibullah", "Nakibullah", "Naqeebullah"],
        ["Rahmatullah", "Rahmatulla", "Rahmat Ullah"],
        ["Durrani", "Durani"],
        ["Safi", "Saafi"],
    ],
    "kurdish": [
        ["Barzani", "Barsani"],
        ["Zebari", "Zibari"],
        ["Talabani", "Talebani"],
        ["Rojin", "Rozhin"],
        ["Dilan", "Dilane"],
        ["Hawar", "Havar"],
        ["Shilan", "Schilan", "Şilan"],
        ["Berivan", "Beriwan"],
        ["Xalid", "Khalid"],
        ["Nechirvan", "Nêçîrvan"],
    ],
    "tigrinya": [
        ["Gebremedhin", "Ghebremedhin", "Gebre-Medhin"],
        ["Tesfaye", "Tesfay", "Tesfai"],
        ["Haile", "Hayle"],
        ["Abraha", "Abrha"],
        ["Yohannes", "Johannes", "Yohanes"],
        ["Senait", "Senayt"],
        ["Filmon", "Philmon"],
        ["Yonas", "Jonas"],
        ["Mehari", "Mihari"],
        ["Kidane", "Kidan"],
        ["Tsegay", "Tsegai"],
        ["Berhane", "Birhane"],
    ],
    "turkish": [
        ["Yılmaz", "Yilmaz"],
        ["Şahin", "Sahin", "Schahin"],
        ["Çelik", "Celik"],
        ["Öztürk", "Ozturk", "Oeztuerk"],
        ["Doğan", "Dogan"],
        ["Kılıç", "Kilic"],
        ["Yıldız", "Yildiz"],
        ["Aydın", "Aydin"],
        ["Ayşe", "Ayse", "Aysche"],
        ["Gül", "Gul", "Guel"],
        ["Özdemir", "Ozdemir"],
        ["Hüseyin", "Huseyin"],
    ],
    "romanian": [
        ["Ștefan", "Stefan", "Ştefan"],
        ["Ionuț", "Ionut"],
        ["Mădălina", "Madalina"],
        ["Răzvan", "Razvan"],
        ["Țurcanu", "Turcanu", "Ţurcanu"],
        ["Bălan", "Balan"],
        ["Ioana", "Ioanna"],
    ],
    "doubled_letters": [
        ["Anna", "Ana"],
        ["Bassam", "Basam"],
        ["Ghassan", "Gassan", "Ghasan"],
        ["Hanna", "Hana"],
        ["Emmanuel", "Emanuel"],
        ["Sabbagh", "Sabagh"],
    ],
    "vowel_length": [
        ["Rasheed", "Rashid"],
        ["Sameer", "Samir"],
        ["Kareem", "Karim"],
        ["Yousuf", "Yusuf"],
        ["Zeenat", "Zinat"],
        ["Shareefa", "Sharifa"],
        ["Mahmood", "Mahmud"],
        ["Soltan", "Sultan"],
    ],
    "compound_given": [
        ["Anna-Maria", "Anna Maria", "Annamaria"],
        ["Mohammed Ali", "Mohammed-Ali", "Mohammedali"],
        ["Abdul Karim", "Abdulkarim", "Abdelkarim"],
        ["Nur Ahmad", "Noor Ahmad", "Nurahmad"],
        ["Hans-Peter", "Hanspeter"],
        ["Sayed Ahmad", "Said Ahmad"],
    ],
}
FAMILY_KINDS_HINT = {"Al-", "El", "Al ", "At-", "Ar-"}
# Partners for the names of a group: a family name for a given-name group and vice versa.
FILL_GIVEN = ["Lina", "Omar", "Sara", "Elif", "Artem", "Amina", "Yonas", "Mariam", "Karim"]
FILL_FAMILY = ["Haddad", "Ahmadi", "Kaya", "Tesfaye", "Popescu", "Barzani", "Darwish"]

# Different children who share a family and a birth date (twins) or a name: the negatives.
TWIN_GIVEN = [
    ("Sofiia", "Daryna"), ("Maksym", "Artem"), ("Olena", "Iryna"), ("Bohdan", "Taras"),
    ("Mohammed", "Ahmad"), ("Omar", "Ali"), ("Lina", "Rania"), ("Fatima", "Zainab"),
    ("Yousef", "Ibrahim"), ("Hassan", "Ali"), ("Amira", "Layla"), ("Farid", "Wahid"),
    ("Mariam", "Zahra"), ("Emre", "Can"), ("Elif", "Zeynep"), ("Andrei", "Mihai"),
    ("Ioana", "Elena"), ("Yonas", "Filmon"), ("Selam", "Senait"), ("Rojin", "Dilan"),
    ("Noor", "Salma"), ("Karim", "Samir"), ("Khaled", "Walid"), ("Aisha", "Amina"),
    ("Dmytro", "Mykola"), ("Anastasiia", "Viktoriia"), ("Habib", "Hamid"), ("Luca", "Nikola"),
    ("Dawit", "Abdi"), ("Hana", "Hodan"), ("Shabnam", "Parwana"), ("Yusuf", "Mehmet"),
    ("Polina", "Milena"), ("Oleksandr", "Andrii"), ("Kateryna", "Yuliia"), ("Merve", "Ayşe"),
    ("Ivan", "Artur"), ("Jovana", "Desislava"), ("Shilan", "Hawar"), ("Georgi", "Aleksandr"),
]  # fmt: skip
SIMILAR_FAMILIES = [
    ("Kovalenko", "Kovalchuk"), ("Petrenko", "Pavlenko"), ("Bondarenko", "Bondaruk"),
    ("Tkachenko", "Tkachuk"), ("Savchenko", "Savchuk"), ("Melnyk", "Melnychuk"),
    ("Haddad", "Hamdan"), ("Ahmadi", "Ahmed"), ("Rahimi", "Rahmani"), ("Karimi", "Karim"),
    ("Hosseini", "Husseinzada"), ("Yilmaz", "Yildiz"), ("Popescu", "Popa"), ("Ionescu", "Ion"),
    ("Kaya", "Kaplan"), ("Demir", "Demirci"), ("Sadat", "Saadi"), ("Noori", "Nazari"),
    ("Shevchenko", "Shevchuk"), ("Moroz", "Morozenko"), ("Lysenko", "Lysak"),
    ("Hryts", "Hrytsenko"), ("Al-Khatib", "Al-Khateeb Zada"), ("Masri", "Mansour"),
    ("Tesfaye", "Tekle"), ("Haile", "Hailu"), ("Jama", "Jamal"), ("Farah", "Faraj"),
    ("Gashi", "Gashani"), ("Berisha", "Bera"), ("Stoica", "Stoian"), ("Rusu", "Russo"),
    ("Barzani", "Barwari"), ("Zebari", "Zubair"), ("Wardak", "Wardag Khel"),
    ("Safi", "Sabri"), ("Amiri", "Emami"), ("Jalali", "Jalil"), ("Azizi", "Aziz Khan"),
    ("Hakimi", "Hakim"),
]  # fmt: skip


def _birth(rng: random.Random) -> dt.date:
    return dt.date(2008, 1, 1) + dt.timedelta(days=rng.randint(0, 17 * 365))


def _real(rng: random.Random) -> dt.date:
    """A birth date that is neither a placeholder nor swappable (day > 12)."""
    while True:
        birth = _birth(rng)
        if birth.day > 12:
            return birth


def build() -> list[tuple[str, int, str, str, str, str, str, str]]:
    rng = random.Random(20261203)
    rows: list[tuple[str, int, str, str, str, str, str, str]] = []

    def add(kind: str, same: int, a: tuple[str, str, dt.date], b: tuple[str, str, dt.date]):
        rows.append((kind, same, a[0], a[1], a[2].isoformat(), b[0], b[1], b[2].isoformat()))

    # Cyrillic: every given name with a family name, written in the three systems.
    families = list(UA_FAMILY)
    rng.shuffle(families)
    names = [(g, f) for g, f in zip(UA_GIVEN * 3, families * 2, strict=False)]
    names += [(g, f) for g, f in zip(reversed(UA_GIVEN * 3), families * 2, strict=False)]
    for index, (given, family) in enumerate(names[: 2 * len(families)]):
        birth = _real(rng)
        systems = [("icao", icao), ("duden", duden), ("national", national), ("duden", duden)]
        (name_a, fa), (name_b, fb) = systems[index % 4], systems[(index + 1) % 4]
        a = (fa(given), fa(family), birth)
        b = (fb(given), fb(family), birth)
        for name_c, fc in systems:
            if a[:2] != b[:2]:
                break
            (name_b, fb), b = (name_c, fc), (fc(given), fc(family), birth)
        if a[:2] != b[:2]:  # a name all systems write alike is no variant
            add(f"cyrillic_{name_a}_{name_b}", 1, a, b)
    # Other scripts: consecutive spellings of each group, paired with a fixed partner name.
    for kind, groups in GROUPS.items():
        for number, group in enumerate(groups):
            for first, second in itertools.pairwise(group):
                birth = _real(rng)
                as_family = kind != "compound_given" and number % 2 == 1
                if as_family or any(group[0].startswith(p) for p in FAMILY_KINDS_HINT):
                    partner = FILL_GIVEN[number % len(FILL_GIVEN)]
                    add(kind, 1, (partner, first, birth), (partner, second, birth))
                else:
                    partner = FILL_FAMILY[number % len(FILL_FAMILY)]
                    add(kind, 1, (first, partner, birth), (second, partner, birth))
    variants = [r for r in rows if r[1] == 1]
    # Given and family name swapped (also on top of a spelling variant).
    for row in rng.sample(variants, 30):
        birth = dt.date.fromisoformat(row[4])
        add("names_swapped", 1, (row[2], row[3], birth), (row[6], row[5], birth))
    # Day and month swapped on the other paper.
    for row in rng.sample(variants, 25):
        birth = _birth(rng)
        while birth.day > 12 or birth.day == birth.month or (birth.day, birth.month) == (1, 1):
            birth = _birth(rng)
        other = birth.replace(day=birth.month, month=birth.day)
        add("date_swapped", 1, (row[2], row[3], birth), (row[5], row[6], other))
    # A placeholder (01.01., or 00.00. typed as 01.01.) on one paper, the real date on the
    # other, or the placeholder on both.
    for number, row in enumerate(rng.sample(variants, 25)):
        birth = _real(rng)
        placeholder = dt.date(birth.year, 1, 1)
        other = placeholder if number % 3 == 0 else birth
        add("date_placeholder", 1, (row[2], row[3], placeholder), (row[5], row[6], other))

    # Negatives: twins (same family, same birth date, different given names).
    pool = list(GROUPS["arabic"][26:]) + [[f] for f in FILL_FAMILY] + [[icao(UA_FAMILY[0])]]
    for number, (given_a, given_b) in enumerate(TWIN_GIVEN):
        family = pool[number % len(pool)][0]
        birth = _real(rng)
        add("different_twins", 0, (given_a, family, birth), (given_b, family, birth))
    # Same birth date, similar-sounding family names.
    for number, (family_a, family_b) in enumerate(SIMILAR_FAMILIES):
        given = ([*FILL_GIVEN, "Mohammed", "Sofiia", "Ahmad"])[number % 12]
        birth = _real(rng)
        add("different_similar_family", 0, (given, family_a, birth), (given, family_b, birth))
    # Same name, a different real birth date (not a swap, not a placeholder).
    for row in rng.sample(variants, 30):
        birth = _real(rng)
        other = birth + dt.timedelta(days=rng.randint(40, 2000))
        while other.day <= 12:
            other += dt.timedelta(days=13)
        add("different_birth_date", 0, (row[2], row[3], birth), (row[2], row[3], other))
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["kind", "same", "given_a", "family_a", "birth_a", "given_b", "family_b", "birth_b"]
        )
        writer.writerows(rows)
    print(f"{len(rows)} pairs written to {OUT}")


if __name__ == "__main__":
    main()
