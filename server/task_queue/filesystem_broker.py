"""`make dev`'s broker: kombu's filesystem transport with every file written whole before anyone can
read it.

kombu 5.7's transport creates a message file, then writes it; a consumer polling the folder can move
and read it in between, and gets an empty message ("Expecting value: line 1 column 1": the reply to
Flower's `inspect stats` lost, kombu issue #1551). An exchange's table of bound queues is rewritten in
place the same way while another process reads it. Here each file is written under a name no reader
picks up and renamed into place (atomic within one folder), and each message is taken by a rename
inside the broker's own folder, not by a copy to /tmp.
"""

import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem, virtual
from kombu.utils.json import dumps, loads

PARTIAL_SUFFIX = ".partial"


def write_whole(path: Path, data: str) -> None:
    """Write `data` to `path` so that a reader sees either the old file or all of the new one."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # The name's leading time keeps the queue in order; a reader matches `<time>_<id>.<queue>.msg`,
        # which the partial file (`.<random>.partial`) never is.
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        try:
            write_whole(Path(self.data_folder_out) / name, dumps(payload))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc

    def _get(self, queue):
        wanted = f"{queue}.msg"
        taken_dir = Path(self.processed_folder)
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            taken = taken_dir / name
            try:
                # One rename per message: the process whose rename succeeds owns it.
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except FileNotFoundError:
                continue  # another consumer took it first
            try:
                payload = taken.read_text()
            finally:
                if not self.store_processed:
                    taken.unlink(missing_ok=True)
            return loads(payload)
        raise Empty()

    @contextmanager
    def _table_locked(self, exchange):
        """The exchange's table, read under a lock that every writer of that table holds."""
        table = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        with open(table.with_name(table.name + ".lock"), "a") as lock_file:
            filesystem.lock(lock_file, filesystem.LOCK_EX)
            try:
                yield table, self.get_table(exchange)
            finally:
                filesystem.unlock(lock_file)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_locked(exchange) as (table, queues):
            if binding not in queues:
                write_whole(table, dumps([binding, *queues]))

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_locked(exchange) as (table, queues):
            if binding in queues:
                write_whole(table, dumps([q for q in queues if q != binding]))


class Transport(filesystem.Transport):
    Channel = Channel


def use_for_filesystem_urls() -> None:
    """`filesystem://` URLs, in every process that loads the settings (web, worker, beat, Flower),
    get this transport instead of kombu's."""
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
