# Production image for Ankommen: gunicorn serves the app, whitenoise the static files.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 ankommen

WORKDIR /app
COPY pyproject.toml README.md ./
COPY coordination coordination
COPY cases cases
COPY referrals referrals
RUN pip install .
COPY . .
# Build-time values only so that collectstatic can import the settings; never used at run time.
RUN DEBUG=1 SECRET_KEY=build FIELD_ENCRYPTION_KEYS=b:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    BLIND_INDEX_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= AUDIT_KEY=b:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ANKOMMEN_IGNORE_DOTENV=1 \
    python manage.py compilemessages \
    && DEBUG=0 SECRET_KEY=build FIELD_ENCRYPTION_KEYS=b:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    BLIND_INDEX_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= AUDIT_KEY=b:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ANKOMMEN_IGNORE_DOTENV=1 \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown -R ankommen /app/var

USER ankommen
EXPOSE 8000
# The same settings as the compose web service (docs/performance.md, "Throughput"); the number
# of workers comes from WEB_CONCURRENCY (gunicorn reads it; two per core of the host).
ENV WEB_CONCURRENCY=4
CMD ["gunicorn", "coordination.wsgi", "--bind", "0.0.0.0:8000", "--preload", "--max-requests", "2000", "--max-requests-jitter", "200", "--timeout", "30", "--access-logfile", "-"]
