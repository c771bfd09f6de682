"""MySQL 连接池 A small pool of PyMySQL connections (autocommit off, explicit commits, UTC session)."""

import contextlib
import queue
import threading

import pymysql
import pymysql.cursors


class Pool:
    def __init__(self, settings, size=8, connect_timeout=5, read_timeout=30):
        self.settings = dict(settings)
        self.size = size
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _connect(self):
        return pymysql.connect(
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            write_timeout=self.read_timeout,
            cursorclass=pymysql.cursors.DictCursor,
            init_command="SET time_zone = '+00:00'",
            **self.settings,
        )

    @contextlib.contextmanager
    def connection(self):
        """A connection for one unit of work: committed by the caller, rolled back on an exception."""
        if not self._slots.acquire(timeout=30):
            raise pymysql.err.OperationalError(2013, "no free database connection in the pool")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
                conn.ping(reconnect=True)
            except queue.Empty:
                conn = self._connect()
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.rollback()
                raise
            else:
                conn.rollback()  # anything the caller did not commit is not kept
            self._idle.put(conn)
            conn = None
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            self._slots.release()

    def close(self):
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                conn.close()
