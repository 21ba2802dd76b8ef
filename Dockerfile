# slowatch: probes + per-consumer SLO error budgets.
#   docker build -t slowatch .
#   docker run -v $PWD/config:/etc/slowatch:ro -v slowatch-data:/var/lib/slowatch -p 9464:9464 slowatch
FROM python:3.11-slim

RUN useradd --system --uid 10001 --home-dir /var/lib/slowatch --create-home slowatch
WORKDIR /opt/slowatch
COPY pyproject.toml README.md ./
COPY slowatch ./slowatch
RUN pip install --no-cache-dir . && rm -rf /root/.cache

USER slowatch
VOLUME ["/var/lib/slowatch"]
EXPOSE 9464
ENV SLOWATCH_LISTEN=0.0.0.0:9464 SLOWATCH_DB=/var/lib/slowatch/slowatch.db
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2)" || exit 1
# The same command the e2e tests run; --listen/--db override the config so any config works here.
ENTRYPOINT ["slowatch", "run", "--config", "/etc/slowatch/slowatch.yaml"]
CMD ["--listen", "0.0.0.0:9464", "--db", "/var/lib/slowatch/slowatch.db"]
