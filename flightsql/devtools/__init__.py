"""Tools for development and first runs, apart from the server itself.

- :mod:`.java`: the Java check (also run by the Makefile before any virtual environment exists);
- :mod:`.zookeeper`: a real ZooKeeper server from the classes PySpark ships, for tests and dev/;
- :mod:`.zookeeper_command`: ``spark-flight-sql zookeeper``;
- :mod:`.demo`: the demo tables of ``spark-flight-sql serve --demo``;
- :mod:`.node_process`: a node as a child process and its output, for tests and benchmarks.
"""
