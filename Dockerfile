# syntax=docker/dockerfile:1
# The Marketplace backend: gunicorn with deploy/gunicorn.conf.py and marketplace_app.wsgi:app,
# the pinned dependencies of requirements.lock, as a non-root user. compose.yaml runs it with
# PostgreSQL, Redis and nginx (OPERATIONS.md, section 11):
#     docker build -t partner-marketplace .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    MARKETPLACE_INSTANCE=/var/lib/marketplace/instance \
    MARKETPLACE_SITE_DIR=/var/lib/marketplace/site \
    MARKETPLACE_LISTINGS=/app/listings \
    MARKETPLACE_BIND=0.0.0.0:8000

# The user the backend runs as, and the folders it writes (volumes in compose.yaml, which take
# these owners and modes when first created): the instance folder is private.
RUN groupadd --system --gid 10001 marketplace \
    && useradd --system --uid 10001 --gid marketplace --no-create-home \
        --home-dir /var/lib/marketplace --shell /usr/sbin/nologin marketplace \
    && install -d -o marketplace -g marketplace -m 0700 /var/lib/marketplace/instance \
    && install -d -o marketplace -g marketplace -m 0755 \
        /var/lib/marketplace/site /var/lib/marketplace/nginx

WORKDIR /app

# The dependencies first, in a layer that changes only with them: the project's requirements
# and its redis extra (the Redis client of the rate limits), each at its requirements.lock pin.
COPY pyproject.toml requirements.lock ./
RUN python -m venv /opt/venv \
    && python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["redis"]))' > /tmp/requirements.txt \
    && pip install --no-cache-dir -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the Marketplace itself, editable as in OPERATIONS.md section 1: `marketplace build`
# reads mkdocs.yml and site_src/ from this folder. Owned by root: the backend only reads it.
COPY . .
RUN pip install --no-cache-dir --no-deps -c requirements.lock -e '.[redis]' \
    && pip check \
    && python -m compileall -q consent_app marketplace marketplace_app search sitegen

USER 10001:10001
EXPOSE 8000

# 200 from /healthz on MARKETPLACE_BIND, else unhealthy (503 when degraded: OPERATIONS.md 9).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]

CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "marketplace_app.wsgi:app"]
