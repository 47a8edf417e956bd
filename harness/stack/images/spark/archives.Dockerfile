# The trained image: the Spark image with the class-data sharing archives of its training run.
# Drivers map driver.jsa; the harness's worker points the executors it launches at executor.jsa. A
# JVM whose class path does not match an archive's (the master, the worker, spark-submit's launcher)
# ignores it (-Xshare:auto, the default) and loads its classes from the jars as before.
ARG UNTRAINED
FROM ${UNTRAINED}
COPY driver.jsa executor.jsa /opt/cds/
ENV JAVA_TOOL_OPTIONS="-XX:SharedArchiveFile=/opt/cds/driver.jsa"
