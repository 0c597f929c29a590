# The operator image: the locked dependencies (requirements.lock, with hashes) and the package
# in a virtual environment, run as a non-root user that has a passwd entry. BASE is any image
# with python 3.11 and its venv module; the e2e tier builds on Debian's own Python
# (hack/image/build.sh), releases on the official image.
ARG BASE=python:3.11-slim
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/bulkhead/bin:$PATH
WORKDIR /app
COPY requirements.lock ./
RUN python -m venv /opt/bulkhead \
    && pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build operator/*.egg-info
# kopf names the process after getpass.getuser() unless POD_ID is set; without a passwd
# entry for the uid that raises KeyError at startup.
RUN echo 'bulkhead:x:65532:65532:bulkhead:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'bulkhead:x:65532:' >> /etc/group
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["python", "-m", "bulkhead"]
