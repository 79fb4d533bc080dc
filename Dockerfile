# A small runtime image: Lockdown installed from its wheel into a virtualenv in a
# build stage (the migrations travel inside the package), copied into a slim base,
# run as an unprivileged user who owns the working directory, where the default
# SQLite file (./lockdown.db) goes. Every base image is pinned to a patch release.
FROM python:3.11.14-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY db ./db
COPY cogs ./cogs
COPY migrations ./migrations
RUN pip install --no-cache-dir .

FROM python:3.11.14-slim
RUN useradd --create-home --uid 10001 lockdown \
    && mkdir /app \
    && chown lockdown:lockdown /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER lockdown
# On SQLite the bot migrates by itself; docker-compose.yml runs `lockdown db upgrade`
# first, as PostgreSQL needs.
CMD ["lockdown", "run"]
