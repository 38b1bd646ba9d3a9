# Aftersales image: API, Temporal worker and migrations share it; the compose
# services pick the role via `aftersales <api|worker|migrate>`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN groupadd --system --gid 10001 aftersales \
 && useradd --system --uid 10001 --gid aftersales --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin aftersales

WORKDIR /src
COPY . .
# Install the project (and its console script `aftersales`) into site-packages,
# then drop the source tree: the running code comes from the installed package.
RUN pip install --no-cache-dir . \
 && rm -rf /src

WORKDIR /app
# The uploads directory exists in the image, owned by the app's user, so a fresh named volume
# mounted there (docker-compose.yml `uploads`) starts writable.
RUN chown aftersales:aftersales /app \
 && mkdir -p /var/lib/aftersales/uploads \
 && chown -R aftersales:aftersales /var/lib/aftersales
USER aftersales

EXPOSE 8000

CMD ["aftersales", "api", "--host", "0.0.0.0", "--port", "8000"]
