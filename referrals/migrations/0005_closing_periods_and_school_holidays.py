"""Holidays and closing periods, with the Rhineland-Palatinate school holidays of the school
years 2025/26, 2026/27 and 2027/28 (docs/adr/0016-school-holidays-calendar.md).

Source of the dates: the table "Schulferien Rheinland-Pfalz" of schule-verstehen.de (which
refers to the Ministry of Education's page), checked against feiertage-news.de for 2025; since
2025 RLP has neither Winter- nor Pfingstferien. First and last day are both holidays.
The movable days off (bewegliche Ferientage) are set by each school and are not included: a
school's own days can be entered as closing days of that institution.
"""

import datetime as dt


import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models



D = dt.date
RLP_SCHOOL_HOLIDAYS = [
    ("Herbstferien 2025", D(2025, 10, 13), D(2025, 10, 24)),
    ("Weihnachtsferien 2025/26", D(2025, 12, 22), D(2026, 1, 7)),
    ("Osterferien 2026", D(2026, 3, 30), D(2026, 4, 10)),
    ("Sommerferien 2026", D(2026, 6, 29), D(2026, 8, 7)),
    ("Herbstferien 2026", D(2026, 10, 5), D(2026, 10, 16)),
    ("Weihnachtsferien 2026/27", D(2026, 12, 23), D(2027, 1, 8)),
    ("Osterferien 2027", D(2027, 3, 22), D(2027, 4, 2)),
    ("Sommerferien 2027", D(2027, 6, 28), D(2027, 8, 6)),
    ("Herbstferien 2027", D(2027, 10, 4), D(2027, 10, 15)),
    ("Weihnachtsferien 2027/28", D(2027, 12, 23), D(2028, 1, 7)),
    ("Osterferien 2028", D(2028, 4, 10), D(2028, 4, 21)),
    ("Sommerferien 2028", D(2028, 7, 3), D(2028, 8, 11)),
]


def add_school_holidays(apps, schema_editor):
    ClosingPeriod = apps.get_model("referrals", "ClosingPeriod")
    for name, start, end in RLP_SCHOOL_HOLIDAYS:
        ClosingPeriod.objects.get_or_create(
            applies_to="schools", start=start, end=end, institution=None,
            defaults={"name": name},
        )


def remove_school_holidays(apps, schema_editor):
    ClosingPeriod = apps.get_model("referrals", "ClosingPeriod")
    for _name, start, end in RLP_SCHOOL_HOLIDAYS:
        ClosingPeriod.objects.filter(
            applies_to="schools", start=start, end=end, institution=None
        ).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0006_case_version_transfer'),
        ('referrals', '0004_encrypted_columns_binary'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ClosingPeriod',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(help_text='e.g. Herbstferien 2026', max_length=80, verbose_name='name')),
                ('start', models.DateField(verbose_name='first day')),
                ('end', models.DateField(verbose_name='last day')),
                ('applies_to', models.CharField(choices=[('schools', 'all schools (school holidays)'), ('kitas', 'all Kitas'), ('institution', 'one institution')], default='schools', max_length=12, verbose_name='applies to')),
            ],
            options={
                'verbose_name': 'holiday or closing period',
                'verbose_name_plural': 'holidays and closing periods',
                'ordering': ['start', 'name'],
            },
        ),
        migrations.RemoveIndex(
            model_name='referral',
            name='ref_due_pending',
        ),
        migrations.RemoveIndex(
            model_name='referral',
            name='ref_due_accepted',
        ),
        migrations.AddIndex(
            model_name='referral',
            index=models.Index(condition=models.Q(('state', 'pending')), fields=['reminder_level', 'created_at', 'id'], include=('institution',), name='ref_due_pending'),
        ),
        migrations.AddIndex(
            model_name='referral',
            index=models.Index(condition=models.Q(('state', 'accepted')), fields=['reminder_level', 'start_date', 'id'], include=('institution',), name='ref_due_accepted'),
        ),
        migrations.AddField(
            model_name='closingperiod',
            name='institution',
            field=models.ForeignKey(blank=True, help_text="Only for “one institution”: e.g. a Kita's closing days.", null=True, on_delete=django.db.models.deletion.CASCADE, related_name='closing_periods', to='referrals.institution', verbose_name='institution'),
        ),
        migrations.AddConstraint(
            model_name='closingperiod',
            constraint=models.CheckConstraint(condition=models.Q(('end__gte', models.F('start'))), name='closing_end_after_start'),
        ),
        migrations.AddConstraint(
            model_name='closingperiod',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('applies_to', 'institution'), ('institution__isnull', False)), models.Q(models.Q(('applies_to', 'institution'), _negated=True), ('institution__isnull', True)), _connector='OR'), name='closing_institution_iff_one'),
        ),
        migrations.AddConstraint(
            model_name='closingperiod',
            constraint=models.UniqueConstraint(condition=models.Q(('institution__isnull', True)), fields=('applies_to', 'start', 'end'), name='closing_unique_period'),
        ),
        migrations.RunPython(add_school_holidays, remove_school_holidays),
    ]
