# hotline: the API and its workers in one image (SQLite by default; set HOTLINE_DATABASE_URL
# to a postgresql+asyncpg:// URL for production).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOTLINE_DATABASE_URL=sqlite+aiosqlite:////data/hotline.db

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 hotline \
    && mkdir /data \
    && chown hotline /data

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["hotline", "serve", "--host", "0.0.0.0", "--port", "8000"]
