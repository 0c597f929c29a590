# The operator image: python:3.11-slim, the package and its pinned-by-range dependencies,
# a non-root user, no shell needed at run time.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir . && rm -rf /root/.cache
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["python", "-m", "bulkhead"]
