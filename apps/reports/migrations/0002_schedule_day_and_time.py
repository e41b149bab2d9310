"""Weekly and monthly schedules choose their day and every schedule its time of day, in a time zone.

The defaults are what every schedule did before (06:00 UTC, weekly on Mondays, monthly on the
1st), so existing schedules keep their runs. Adding NOT NULL columns with a constant default
rewrites nothing in PostgreSQL 11+ (the default is kept in the catalogue).
"""

import apps.rbac.time_zones
import datetime
import django.core.validators
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='schedule',
            name='day_of_month',
            field=models.PositiveSmallIntegerField(default=1, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(31)]),
        ),
        migrations.AddField(
            model_name='schedule',
            name='time_of_day',
            field=models.TimeField(default=datetime.time(6, 0)),
        ),
        migrations.AddField(
            model_name='schedule',
            name='time_zone',
            field=models.CharField(default='UTC', max_length=64, validators=[apps.rbac.time_zones.validate_time_zone]),
        ),
        migrations.AddField(
            model_name='schedule',
            name='weekday',
            field=models.PositiveSmallIntegerField(choices=[(0, 'Monday'), (1, 'Tuesday'), (2, 'Wednesday'), (3, 'Thursday'), (4, 'Friday'), (5, 'Saturday'), (6, 'Sunday')], default=0),
        ),
        migrations.AddConstraint(
            model_name='schedule',
            constraint=models.CheckConstraint(condition=models.Q(('weekday__lte', 6)), name='schedule_weekday_valid'),
        ),
        migrations.AddConstraint(
            model_name='schedule',
            constraint=models.CheckConstraint(condition=models.Q(('day_of_month__gte', 1), ('day_of_month__lte', 31)), name='schedule_day_of_month_valid'),
        ),
    ]
