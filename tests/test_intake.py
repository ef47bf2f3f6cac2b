"""The intake journal and the fiscal pipeline behind it (issue 5 items 4–5), without HTTP.

What is shown: idempotency inside one batch and across batches (payloads compared), gapless commit-ordered
sequence numbers, the pipeline fiscalizing journaled receipts found by the scan or handed over in memory, and
exactly-once recovery after a crash between the drive commit and the outcome write (the drive's links).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pathlib
import time
import uuid as uuidlib
from typing import Any

import msgspec
import pytest

from fiscal_core import samples
from fiscal_core.api import views
from fiscal_core.api.intake import Entry, Intake, NewEntry, Outcome, _FinishPlan
from fiscal_core.api.pipeline import Pipeline, decode_document, outcome_of
from fiscal_core.drive.archive import verify
from fiscal_core.ffd import tlv
from fiscal_core.ffd.receipt import Receipt
from fiscal_core.registers.fleet import Fleet, Prebuilt, Result
from fiscal_core.registers.model import FleetFile, parse_tax_systems
from fiscal_core.registers.provision import add_registers


def make_fleet_dir(root: pathlib.Path, n: int = 3) -> None:
    files = FleetFile(root)
    with files.edit() as model:
        model.add_tenant("shop", "pw", "7707083893", 'ООО "Магазин"', parse_tax_systems("osn"))
        model.add_group("shop", "shop", "1.2", capabilities=["marked"])
        model.add_tenant("other", "pw", "7736207543", 'ООО "Другой"', parse_tax_systems("osn"))
        model.add_group("other", "other", "1.2", capabilities=["marked"])
    add_registers(files, "shop", n, clock=time.time)
    add_registers(files, "other", 1, clock=time.time)


def entry(
    group: str, external_id: str, doc: Any, *, tenant: str = "shop", operation: str = "sell", cb: str = ""
) -> Entry:
    return Entry(
        tenant=tenant,
        group=group,
        external_id=external_id,
        operation=operation,
        api=5,
        timestamp="01.06.2026 10:00:00",
        callback_url=cb,
        payload_hash=b"",
        correction=False,
        document=msgspec.msgpack.encode(doc),
        accepted_at=time.time(),
    )


def new(group: str, external_id: str, doc: Any, **kw: Any) -> NewEntry:
    return NewEntry(uuidlib.uuid4().bytes, entry(group, external_id, doc, **kw))


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_accept_is_idempotent_per_group_and_external_id(tmp_path: pathlib.Path) -> None:
    doc = samples.receipt(1, 1)
    with Intake(tmp_path / "intake") as intake:
        other = samples.receipt(1, 2)
        first = intake.accept([new("shop", "A", doc), new("shop", "B", doc), new("shop", "A", other)])
        assert [a.duplicate for a in first] == [False, False, True]
        assert first[2].uuid == first[0].uuid  # the original uuid comes back
        assert first[2].same_payload is False  # and the differing payload is flagged
        assert [a.seq for a in first[:2]] == [1, 2]
        again = intake.accept([new("shop", "B", doc), new("other", "A", doc, tenant="other")])
        assert again[0].duplicate and again[0].uuid == first[1].uuid and again[0].same_payload
        assert not again[1].duplicate  # the scope is (group, external_id): another group may reuse it
        assert again[1].seq == 3
        assert intake.find("shop", "A") == first[0].uuid
        assert [s for s, _ in intake.pending_of("shop")] == [1, 2]
        assert intake.pending_of("shop", 1) == [(2, first[1].uuid)]
        report = intake.report(first[0].uuid)
        assert report is not None and report[1] is None and report[0].seq == 1


def test_journal_pages_are_filled_when_uuids_rise_and_any_order_is_stored(tmp_path: pathlib.Path) -> None:
    """Rising uuids (one process's) are appended: the journal's pages hold as many entries as fit, where LMDB's
    ordinary right-edge split left one ~1.3 KB entry per page. Uuids below the last one journaled (another
    worker's) or out of order go in the ordinary way; every entry is stored either way."""
    docs = [samples.receipt(10, seed) for seed in range(4)]
    rising = [NewEntry(u, entry("shop", f"r{i}", docs[i % 4])) for i, u in enumerate(views.new_uuids(240))]
    below = [NewEntry(b"\x00" + uuidlib.uuid4().bytes[1:], entry("shop", f"b{i}", docs[0])) for i in range(20)]
    shuffled = [NewEntry(u, entry("shop", f"s{i}", docs[1])) for i, u in enumerate(views.new_uuids(20))]
    shuffled.reverse()
    with Intake(tmp_path / "intake") as intake:
        intake.accept(rising)
        with intake.env.begin() as txn:
            stat = txn.stat(intake.journal)
            sizes = [len(v) for _, v in txn.cursor(db=intake.journal)]
        per_page = 4080 // (8 + 16 + max(sizes) + 2)  # page minus its header; node header, key, value, index
        assert per_page >= 2 and stat["entries"] == 240
        assert stat["leaf_pages"] <= 240 / per_page + 2, (stat, per_page)
        for batch in (below, shuffled):
            answers = intake.accept(batch)
            assert not any(a.duplicate for a in answers)
        # A commit of outcomes only (the pipeline's, between two requests) journals nothing.
        assert intake.commit([], []) == ([], [])
        everything = rising + below + shuffled
        stored = intake.entries([n.uuid for n in everything])
        assert [e.external_id for e in stored] == [n.entry.external_id for n in everything]
        assert [s for s, _ in intake.pending_of("shop")] == list(range(1, 281))


def test_the_agg_index_counts_each_operation_under_its_sign_corrections_apart(tmp_path: pathlib.Path) -> None:
    """``agg`` rows are keyed by the settlement sign (ATOL: sell 1, sell_refund 2, buy 3, buy_refund 4) and by
    sign + 10 for a correction of that operation; one batch of every operation, two registers, two days."""
    signs = {"sell": 1, "sell_refund": 2, "buy": 3, "buy_refund": 4}
    ops = [(op, False, sign) for op, sign in signs.items()] + [
        (f"{op}_correction", True, sign + 10) for op, sign in signs.items()
    ]
    doc = samples.receipt(1, 1)
    done, expect = [], {}
    with Intake(tmp_path / "intake") as intake:
        for k, (op, correction, kind) in enumerate(ops * 2):
            e = msgspec.structs.replace(entry("shop", f"x{k}", doc, operation=op), correction=correction)
            e = msgspec.structs.replace(e, sums=(k, 1000 + k, 1, 1000 + k, 100 + k, 1))
            (a,) = intake.accept([NewEntry(views.new_uuid(), e)])
            day, register = ("2026-06-01", "r1") if k % 3 else ("2026-06-02", "r2")
            o = Outcome("done", time.time(), register, "9999078900005488", "0000000001059205", k + 1, 1, 1, k + 1,
                        f"{day}T10:00:00", 1000 + k, 31 if correction else 3)  # fmt: skip
            done.append((a.uuid, msgspec.structs.replace(e, seq=a.seq), o))
            row = expect.setdefault((day, register, kind), [0, 0, 0, 0])
            row[0] += 1
            row[1] += 1000 + k
            row[2] += k
            row[3] += 1000 + k
        intake.finish(done)
        got = {}
        for agg in intake.aggregates("shop", "2026-06-01", "2026-06-02"):
            for (kind, rate), v in agg.rows.items():
                if rate == 0:  # RECEIPT_ROW: count, total, cash, electronic
                    got[(agg.day, agg.register, kind)] = v
        assert got == expect


@pytest.mark.parametrize("seed", range(6))
def test_batches_with_repeats_are_answered_as_entry_by_entry(tmp_path: pathlib.Path, seed: int) -> None:
    """Random batches (new keys, keys of earlier batches, keys twice in a batch, an entry submitted twice with its
    uuid, in the same batch and in a later one) against a model of the rule: an entry is new when its (group,
    external_id) was never journaled, else a repeat answered with the original. Batches without a repeat take
    the intake's one-call path, the others its entry-by-entry path: both must give the model's answers, seqs
    gapless in commit order, and exactly the new entries pending."""
    import random

    rng = random.Random(seed)
    docs = [samples.receipt(1, k) for k in range(3)]
    known: dict[tuple[str, str], tuple[bytes, int, int]] = {}  # key -> (uuid, seq, doc index)
    sent: list[tuple[NewEntry, int]] = []
    seq = 0
    with Intake(tmp_path / "intake") as intake:
        for _ in range(40):
            batch: list[tuple[NewEntry, int]] = []
            for _ in range(rng.randint(1, 12)):
                roll = rng.random()
                if roll < 0.1 and (sent or batch):
                    batch.append(rng.choice(sent + batch))  # the same entry, uuid and all, again
                    continue
                group = rng.choice(["shop", "other"])
                ext = f"e{rng.randint(0, 60)}" if roll < 0.5 else f"n{rng.random()}"
                d = rng.randrange(3)
                batch.append((new(group, ext, docs[d], tenant=group), d))
            got = intake.accept([n for n, _ in batch])
            for (n, d), a in zip(batch, got, strict=True):
                key = (n.entry.group, n.entry.external_id)
                if key in known:
                    uuid, oseq, od = known[key]
                    assert (a.uuid, a.duplicate, a.seq, a.same_payload) == (uuid, True, oseq, od == d)
                    assert a.original is not None and a.original.seq == oseq
                else:
                    seq += 1
                    known[key] = (n.uuid, seq, d)
                    assert (a.uuid, a.duplicate, a.seq) == (n.uuid, False, seq)
            sent += batch
        for group in ("shop", "other"):
            expected = sorted((s, u) for (g, _), (u, s, _) in known.items() if g == group)
            assert intake.pending_of(group) == expected
        for (group, ext), (uuid, s, _) in known.items():
            assert intake.find(group, ext) == uuid
            e = intake.entry(uuid)
            assert e is not None and e.seq == s and e.external_id == ext


def _every_field(obj: Any) -> Any:
    """A document as versions before ``omit_defaults`` packed it: every field of every Struct, defaults too."""
    if isinstance(obj, msgspec.Struct):
        return {name: _every_field(getattr(obj, name)) for name in obj.__struct_fields__}
    if isinstance(obj, tuple):
        return [_every_field(x) for x in obj]
    return obj


def _hash(operation: str, packed: bytes) -> bytes:
    return hashlib.sha256(operation.encode() + b"\n" + packed).digest()


@pytest.mark.parametrize("ffd", [4, 5])
def test_a_repeat_of_an_entry_packed_with_every_field_is_the_same_payload(tmp_path: pathlib.Path, ffd: int) -> None:
    doc, other = samples.receipt(3, 1, ffd=ffd), samples.receipt(3, 2, ffd=ffd)
    legacy = msgspec.msgpack.encode(_every_field(doc))
    current = msgspec.msgpack.encode(doc)
    assert len(legacy) > len(current)  # the default fields are left out now
    assert msgspec.msgpack.decode(legacy, type=type(doc)) == doc  # and both packings read back the same
    # As those versions journaled it: the old packing and the SHA-256 of it.
    old = msgspec.structs.replace(entry("shop", "A", doc), document=legacy, payload_hash=_hash("sell", legacy))
    with Intake(tmp_path / "intake") as intake:
        (first,) = intake.accept([NewEntry(uuidlib.uuid4().bytes, old)])
        again = intake.accept(
            [
                new("shop", "A", doc),  # the same receipt, validated today
                new("shop", "A", other),
                new("shop", "A", doc, operation="sell_refund"),  # same document, other operation
            ]
        )
    assert [a.uuid for a in again] == [first.uuid] * 3 and all(a.duplicate for a in again)
    assert [a.same_payload for a in again] == [True, False, False]


def test_finish_moves_a_receipt_out_of_pending_once_and_feeds_the_tenant(tmp_path: pathlib.Path) -> None:
    doc = samples.receipt(1, 1)
    with Intake(tmp_path / "intake") as intake:
        acc = intake.accept([new("shop", "A", doc, cb="http://127.0.0.1:1/cb"), new("shop", "B", doc)])
        ents = intake.entries([a.uuid for a in acc])
        out = Outcome("done", 100.0, "R1", "9999078900000001", "0000000001012345", 7, 123, 1, 2, "2026-06-01T10:00:00")
        seqs = intake.finish([(acc[0].uuid, ents[0], out)])
        assert seqs == [1]
        assert intake.finish([(acc[0].uuid, ents[0], out)]) == [0]  # a replay changes nothing
        assert intake.pending_of("shop") == [(2, acc[1].uuid)]
        feed = intake.feed("shop")
        assert [(f[0], f[1]) for f in feed] == [(1, acc[0].uuid)] and feed[0][3].fd_number == 7
        assert intake.feed("other") == []
        due = intake.callbacks_due("shop", 100.0)
        assert [(u, n) for _, u, n in due] == [(acc[0].uuid, 0)]
        assert intake.callbacks_due("shop", 99.0) == []


def test_feed_and_entries_read_whole_batches_and_name_a_missing_row(tmp_path: pathlib.Path) -> None:
    """Two tenants' outcomes interleaved in the feed: a tenant's pages (``after``, ``limit``) hold only its own
    receipts, in feed order, each with its entry's envelope and its outcome. Both reads fetch a page's rows in
    one call per database: a feed row whose result is gone, or an entry asked for that was never journaled, is
    named in the error, not skipped or answered half."""
    doc = samples.receipt(1, 1)
    with Intake(tmp_path / "intake") as intake:
        news = [new(t, f"{t}-{k}", doc, tenant=t) for k in range(7) for t in ("shop", "shopx")]
        acc = intake.accept(news)
        ents = intake.entries([a.uuid for a in acc])
        done = [
            (
                a.uuid,
                e,
                Outcome("done", 100.0 + k, "R1", "9999078900000001", "1", k + 2, k, 1, k, "2026-06-01T10:00:00"),
            )
            for k, (a, e) in enumerate(zip(acc, ents, strict=True))
        ]
        intake.finish(done[:5])
        intake.finish(done[5:])
        for tenant in ("shop", "shopx"):
            mine = [(a.uuid, n.entry.external_id) for a, n in zip(acc, news, strict=True) if n.entry.tenant == tenant]
            pages, after = [], 0
            while page := intake.feed(tenant, after, limit=3):
                assert len(page) <= 3 and all(seq > after for seq, *_ in page)
                pages.append(page)
                after = page[-1][0]
            rows = [row for page in pages for row in page]
            assert [len(p) for p in pages] == [3, 3, 1]
            assert [(u, e.external_id) for _, u, e, _ in rows] == mine
            assert [seq for seq, *_ in rows] == sorted(seq for seq, *_ in rows)
            # each outcome is its own entry's: outcome k (of news[k]) has fd k + 2
            fds = [(e.tenant, o.fd_number) for _, _, e, o in rows]
            assert fds == [(tenant, 2 * int(e.split("-")[1]) + 2 + (tenant == "shopx")) for _, e in mine]
        lost = acc[4].uuid
        with intake.env.begin(write=True) as txn:
            assert txn.delete(lost, db=intake.results)
        with pytest.raises(RuntimeError, match=lost.hex()):
            intake.feed("shop")
        assert len(intake.feed("shopx")) == 7
        assert [e.external_id for e in intake.entries([acc[3].uuid, acc[0].uuid, acc[3].uuid])] == [
            "shopx-1",
            "shop-0",
            "shopx-1",
        ]
        never = uuidlib.uuid4().bytes
        with pytest.raises(KeyError, match=never.hex()):
            intake.entries([acc[0].uuid, never])


def test_finish_writes_batches_with_replays_and_repeats_as_outcome_by_outcome(tmp_path: pathlib.Path) -> None:
    """A batch of fresh outcomes takes the intake's one-call-per-database path; a batch with an outcome written
    before or one outcome twice goes outcome by outcome. Either way: feed numbers gapless in batch order, 0 for
    what was written already, each receipt once in the feed, the FD index and out of pending."""
    doc = samples.receipt(1, 1)
    with Intake(tmp_path / "intake") as intake:
        acc = intake.accept([new("shop", f"E{k}", doc) for k in range(8)])
        ents = intake.entries([a.uuid for a in acc])

        def out(k: int) -> Outcome:
            return Outcome("done", 100.0 + k, "R1", "9999078900000001", "0000000001012345", 10 + k, 123, 1, 2,
                           "2026-06-01T10:00:00")  # fmt: skip

        done = [(a.uuid, e, out(k)) for k, (a, e) in enumerate(zip(acc, ents, strict=True))]
        assert intake.finish(done[:3]) == [1, 2, 3]  # fresh
        assert intake.finish([done[3], done[1], done[4]]) == [4, 0, 5]  # one written before
        assert intake.finish([done[5], done[5], done[6]]) == [6, 0, 7]  # one twice
        assert intake.finish(done) == [0, 0, 0, 0, 0, 0, 0, 8]
        feed = intake.feed("shop")
        assert [f[0] for f in feed] == list(range(1, 9))
        assert [f[1] for f in feed] == [acc[k].uuid for k in (0, 1, 2, 3, 4, 5, 6, 7)]
        assert [f[3].feed_seq for f in feed] == list(range(1, 9))
        assert intake.pending_of("shop") == []
        assert [intake.by_fd("shop", 10 + k) for k in range(8)] == [[a.uuid] for a in acc]
        assert intake.finished_counts("shop") == (8, 0)


def test_finish_plan_packs_each_outcome_as_replace_would_for_every_feed_number_width() -> None:
    """The plan packs an outcome once, before the write lock, up to its last element (``feed_seq``); the row
    written is that plus the feed number drawn inside the lock. It must be the very bytes of the outcome with
    that feed number, whatever the number's msgpack width and whatever ``feed_seq`` the outcome came with."""
    entry = Entry("shop", "shop", "E", "sell", 5, "01.06.2026 10:00:00", "", b"", False, b"", 100.0, 5, sums=(40000, 0))
    pack = msgspec.msgpack.Encoder().encode
    read = msgspec.msgpack.Decoder(Outcome).decode
    for came_with in (0, 1, 300, 2**40):
        out = Outcome("done", 100.5, "R1", "9999078900000001", "0000000001012345", 7, 2**32 - 1, 3, 2,
                      "2026-06-01T10:00:00", 40000, 1, feed_seq=came_with)  # fmt: skip
        plan = _FinishPlan([(b"u" * 16, entry, out)], None)
        for n in (1, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1, 2**32, 2**63 - 1):
            row = plan.values[0] + pack(n)
            assert row == pack(msgspec.structs.replace(out, feed_seq=n))
            assert read(row) == msgspec.structs.replace(out, feed_seq=n)


def run_pipeline(root: pathlib.Path, intake: Intake, **kw: Any) -> Pipeline:
    p = Pipeline(str(root), intake, poll_s=0.005, **kw)
    p.start()
    return p


def test_pipeline_fiscalizes_journaled_receipts_scanned_or_handed_over(tmp_path: pathlib.Path) -> None:
    make_fleet_dir(tmp_path)
    docs = samples.receipts(40, 3, seed=5)
    with Intake(tmp_path / "intake") as intake:
        finished: list[Any] = []
        p = run_pipeline(tmp_path, intake, on_finished=finished.extend)
        try:
            scanned = intake.accept([new("shop", f"s{k}", d) for k, d in enumerate(docs[:20])])
            batch = [new("shop", f"h{k}", d) for k, d in enumerate(docs[20:])]
            # Half handed over as bodies encoded ahead (what the API does for the groups its worker owns).
            handed_docs = [p.prebuild("shop", d) if k % 2 else d for k, d in enumerate(docs[20:])]
            assert [type(d) for d in handed_docs[:2]] == [Receipt, Prebuilt]
            p.handoff([(n.uuid, n.entry, d) for n, d in zip(batch, handed_docs, strict=True)])  # before the commit
            handed = intake.accept(batch)
            p.settle(["shop"], [])
            wait_for(lambda: len(finished) == 40)
        finally:
            p.stop()
        assert intake.pending_of("shop") == []
        uuids = {a.uuid for a in scanned + handed}
        assert {u for u, _, _ in finished} == uuids
        outs = [o for _, _, o in finished]
        assert all(o.status == "done" for o in outs)
        # Per drive the receipts' FD numbers are distinct (reports take the others): nothing issued twice.
        by_fn: dict[str, list[int]] = {}
        for o in outs:
            by_fn.setdefault(o.fn_number, []).append(o.fd_number)
        assert sum(len(v) for v in by_fn.values()) == 40 and all(len(v) == len(set(v)) for v in by_fn.values())
        # The fiscal data is the drive's: total and 1077 of the stored document.
        fleet = Fleet(tmp_path, time.time())
        try:
            for o in outs[:5] + outs[-5:]:
                serial = o.register
                ((_, nodes),) = tlv.decode(fleet.drive(serial).document(o.fd_number).tlv)
                tags = dict(nodes)
                assert tlv.printed_fiscal_sign(tags[1077]) == o.fiscal_sign and tags[1020] == o.total
        finally:
            fleet.close()


def test_a_crash_between_drive_and_intake_is_recovered_from_the_links_exactly_once(tmp_path: pathlib.Path) -> None:
    make_fleet_dir(tmp_path)
    docs = samples.receipts(12, 2, seed=9)
    with Intake(tmp_path / "intake") as intake:
        acc = intake.accept([new("shop", f"x{k}", d) for k, d in enumerate(docs)])
        # "Before the crash": the fleet issues the first 8 with their uuids as refs; the outcomes are never written.
        now = time.time()
        fleet = Fleet(tmp_path, now)
        for a, d in zip(acc[:8], docs[:8], strict=True):
            assert isinstance(fleet.submit(d, "shop", now, ref=a.uuid, admitted=True), int)
        issued = {r.ref: r for r in fleet.pump(now)}
        assert len(issued) == 8
        fleet.close()
        # "After the restart": 8 rebuilt from the drives, 4 fiscalized now, none twice.
        finished: list[Any] = []
        p = run_pipeline(tmp_path, intake, on_finished=finished.extend)
        try:
            assert p.recovered == {"linked": 8, "resubmitted": 4}
            wait_for(lambda: len(finished) == 12)
        finally:
            p.stop()
        got = {u: o for u, _, o in finished}
        for u, r in issued.items():
            o = got[u]
            assert (o.fn_number, o.fd_number, o.fiscal_sign, o.total) == (
                r.fn_number,
                r.fd_number,
                r.fiscal_sign,
                r.total,
            )
        receipts_on_drives = 0
        fleet = Fleet(tmp_path, time.time())
        try:
            for serial in fleet.regs:
                report = verify(fleet.drive(serial))  # the archive verifies: CRCs, signs, gapless numbers
                assert report.ok, report.error
                receipts_on_drives += report.by_form.get(3, 0)
        finally:
            fleet.close()
        assert receipts_on_drives == 12


def test_an_outcome_gives_each_receipt_its_own_time() -> None:
    """``outcome_of`` keeps the last 1012 text (a pump's receipts share a second or two): a repeat reuses it,
    every other time is written anew, whatever the order."""
    base = dt.datetime(2026, 6, 1, 10, 0, 0)
    times = [base + dt.timedelta(seconds=s) for s in (0, 0, 1, 1, 1, 0, 59, 3600, 0)]
    times.append(times[-1].replace(microsecond=1))  # equal to the second, not the same time
    for k, when in enumerate(times):
        r = Result(k, b"u", "shop", "R1", 1.0, "9999078900000001", "0000000001012345", 7, 1, 1, k, when, 100, 3)
        assert outcome_of(r, 2.0).when == when.isoformat()
    assert outcome_of(Result(99, b"u", "shop", "R1", 1.0), 2.0).when == ""


def test_decode_document_round_trips_the_validated_receipt() -> None:
    doc = samples.receipt(10, 3)
    assert decode_document(entry("shop", "a", doc)) == doc


def test_pipeline_runs_only_the_groups_it_owns(tmp_path: pathlib.Path) -> None:
    make_fleet_dir(tmp_path)
    with Intake(tmp_path / "intake") as intake:
        p = Pipeline(str(tmp_path), intake, owns=lambda g: g == "other")
        try:
            assert p.owns("other") and not p.owns("shop")
            assert set(p.fleet.groups) == {"other"} and len(p.fleet.regs) == 1
            doc = samples.receipt(2, 1)
            assert p.prebuild("shop", doc) is doc  # not owned: handed over (if ever) as the receipt
            assert type(p.prebuild("other", doc)) is Prebuilt
        finally:
            p.fleet.close()


@pytest.mark.parametrize("n", [1, 3])
def test_gates_are_published_for_owned_groups(tmp_path: pathlib.Path, n: int) -> None:
    make_fleet_dir(tmp_path, n)
    with Intake(tmp_path / "intake") as intake:
        p = run_pipeline(tmp_path, intake)
        try:
            wait_for(lambda: set(p.gates) == {"shop", "other"})
            assert p.gates == {"shop": None, "other": None}  # idle groups admit
        finally:
            p.stop()


def test_new_uuids_are_version_7_ordered_and_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal's keys: RFC 9562 version 7, rising within a process even when the clock steps back or
    4,096+ uuids share a millisecond, and the millisecond they carry is the clock's (or just after it)."""

    now = [1_790_000_000_000_000_000]
    monkeypatch.setattr(views.time, "time_ns", lambda: now[0])
    monkeypatch.setattr(views, "_clock", [0, 0])  # as in a fresh process
    got = [views.new_uuid() for _ in range(5000)]  # one millisecond: the counter overflows into the next
    now[0] -= 5_000_000_000  # the clock steps back 5 s
    got += [views.new_uuid() for _ in range(10)]
    now[0] += 60_000_000_000
    got += [views.new_uuid() for _ in range(10)]
    assert got == sorted(got) and len(set(got)) == len(got)
    parsed = [uuidlib.UUID(bytes=raw) for raw in got]
    assert {u.version for u in parsed} == {7} and {u.variant for u in parsed} == {uuidlib.RFC_4122}
    ms = [int.from_bytes(raw[:6], "big") for raw in got]
    assert ms[0] == 1_790_000_000_000 and ms[4999] == 1_790_000_000_001
    assert ms[5000] == ms[4999]  # stepped back: stays on the last millisecond used
    assert ms[-1] == 1_790_000_000_000 + 55_000


def test_a_batch_of_uuids_is_the_same_sequence_as_single_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """``new_uuids(n)`` (a group commit's keys) keeps every rule of ``new_uuid``: batches and single calls
    interleaved rise, a batch overflows the millisecond's counter into the next, and the random half is the
    pool's bytes with the variant bits set."""
    now = [1_790_000_000_000_000_000]
    monkeypatch.setattr(views.time, "time_ns", lambda: now[0])
    monkeypatch.setattr(views, "_clock", [0, 0])
    monkeypatch.setattr(views, "_pool", bytearray())  # as in a fresh process
    assert views.new_uuids(0) == [] and views._clock == [0, 0]  # nothing taken, nothing moved
    pool = bytearray(range(256)) * 256  # known "random" bytes, consumed from the end
    monkeypatch.setattr(views, "_pool", bytearray(pool))
    got = views.new_uuids(3)
    assert got[0][8:] == bytes([(pool[-24] & 0x3F) | 0x80]) + bytes(pool[-23:-16])
    assert int.from_bytes(got[0][6:8], "big") == 0x7000 | (pool[-24] & 0x7F)  # the counter's random start
    got += [views.new_uuid(), *views.new_uuids(5000), views.new_uuid()]
    now[0] -= 1_000_000_000  # the clock steps back
    got += views.new_uuids(7)
    assert got == sorted(got) and len(set(got)) == len(got) == 5012
    parsed = [uuidlib.UUID(bytes=raw) for raw in got]
    assert {u.version for u in parsed} == {7} and {u.variant for u in parsed} == {uuidlib.RFC_4122}
    ms = {int.from_bytes(raw[:6], "big") for raw in got}
    assert ms == {1_790_000_000_000, 1_790_000_000_001}
    assert views.new_uuids(0) == []


def test_uuid_str_is_the_canonical_form_of_any_16_bytes() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.binary(min_size=16, max_size=16))
    def check(raw: bytes) -> None:
        assert views.uuid_str(raw) == str(uuidlib.UUID(bytes=raw))
        assert uuidlib.UUID(views.uuid_str(raw)).bytes == raw

    check()
    for wrong in (b"", b"\x00" * 15, b"\x00" * 17):
        with pytest.raises(ValueError):
            views.uuid_str(wrong)
