"""SignPresenter decisions with an injected clock: setup once, STRING-only updates, rate limit, colour, stale."""
from __future__ import annotations

import pytest

from appliance.wallboard.levels import Thresholds
from appliance.wallboard.presenter import SignPresenter, SourceState
from firmware_bridge.wallboard.framing import Framer
from firmware_bridge.wallboard.settings import WallboardSettings

SALES = {"waiting": 3, "longest_wait": 65, "agents_available": 2, "service_level": 92.4}


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def presenter(clock, **options) -> SignPresenter:
    settings = WallboardSettings(**{**dict(name="wb", port="/dev/x", address="01",
                                           queues=("sales", "support")), **options})
    return SignPresenter(settings, clock=clock, thresholds=Thresholds())


def started(clock, **options) -> SignPresenter:
    p = presenter(clock, **options)
    p.take()
    clock.now += 10
    return p


def summary(writes) -> list[tuple[str, str, str]]:
    return [(w.kind, w.label, w.value) for w in writes]


def commands(write) -> list[tuple[str, bytes]]:
    (pkt,) = Framer().feed(write.packet)
    assert pkt.address == "01" and all(c.checked for c in pkt.commands)
    return [(c.code, c.data) for c in pkt.commands]


def test_first_take_writes_the_whole_sign_once(clock):
    p = presenter(clock)
    writes = p.take()
    kinds = [w.kind for w in writes]
    assert kinds == ["config", "text", "text"] + ["string"] * 8 + ["cancel"]
    assert all(w.value == "--" for w in writes if w.kind == "string")
    (config,) = commands(writes[0])
    assert config[0] == "E" and config[1].startswith(b"$AAU")
    assert [commands(w)[0][1][:1] for w in writes[1:3]] == [b"A", b"B"]
    assert commands(writes[-1]) == [("A", b"0")]            # a previous run's warning goes away
    clock.now += 60
    assert p.take() == [] and p.next_due() is None


def test_after_setup_only_changed_values_are_written_as_strings(clock):
    p = started(clock)
    p.on_figures({"sales": SALES})
    assert summary(p.take()) == [("string", "a", "3"), ("string", "b", "1:05"),
                                 ("string", "c", "2"), ("string", "d", "92")]
    clock.now += 5
    p.on_figures({"sales": {**SALES, "waiting": 4}})
    (write,) = p.take()
    assert (write.kind, write.label, write.value) == ("string", "a", "4")
    assert commands(write) == [("G", b"a4")]


def test_missing_values_show_dashes_and_times_show_m_ss(clock):
    p = started(clock)
    p.on_figures({"sales": {"waiting": None, "longest_wait": 3725.4, "service_level": 99.5}})
    assert summary(p.take()) == [("string", "b", "62:05"), ("string", "d", "100"),
                                 ("text", "A", "red")]              # an hour's wait is red
    clock.now += 5
    p.on_figures({"sales": {"longest_wait": 59.6}})      # a field left out is unknown again
    assert summary(p.take()) == [("string", "b", "1:00"), ("string", "d", "--"),
                                 ("text", "A", "green")]


def test_rate_limit_per_sign_and_latest_value_wins(clock):
    p = started(clock, min_interval_s=2.0)
    p.on_figures({"sales": SALES})
    first = p.take()
    assert len(first) == 4
    written_at = clock.now
    clock.now += 0.5
    p.on_figures({"sales": {**SALES, "waiting": 5}})
    assert p.take() == [] and p.next_due() == written_at + 2.0
    clock.now += 0.5
    p.on_figures({"sales": {**SALES, "waiting": 6}})
    assert p.take() == []
    clock.now = written_at + 2.0
    assert summary(p.take()) == [("string", "a", "6")]       # 5 was never written


def test_a_value_that_changes_and_changes_back_writes_nothing(clock):
    p = started(clock, min_interval_s=2.0)
    p.on_figures({"sales": SALES})
    p.take()
    clock.now += 1
    p.on_figures({"sales": {**SALES, "waiting": 9}})
    p.on_figures({"sales": SALES})
    clock.now += 5
    assert p.take() == [] and p.next_due() is None


def test_a_colour_change_rewrites_only_that_queues_text(clock):
    p = started(clock)
    p.on_figures({"sales": SALES, "support": SALES})
    assert "text" not in [w.kind for w in p.take()]
    clock.now += 5
    p.on_figures({"sales": {**SALES, "service_level": 70}})       # below the 80 % alert
    writes = p.take()
    assert summary(writes) == [("string", "d", "70"), ("text", "A", "red")]
    code, data = commands(writes[1])[0]
    assert code == "A" and data.startswith(b"A\x1b b\x1c1sales ")     # red, literal queue name
    clock.now += 5
    p.on_figures({"sales": {**SALES, "service_level": 60}})       # still red: no TEXT
    assert [w.kind for w in p.take()] == ["string"]
    clock.now += 5
    p.on_figures({"sales": {**SALES, "longest_wait": 100}, "support": SALES},
                 levels={"support": "amber"})                     # the caller may decide colours
    assert summary(p.take()) == [("string", "b", "1:40"), ("string", "d", "92"),
                                 ("text", "A", "amber"), ("text", "B", "amber")]


def test_stale_sources_raise_a_priority_warning_and_it_clears_when_data_returns(clock):
    p = started(clock, stale_after_s=30)
    down_at = clock.now
    p.on_sources({"pbx1": SourceState(False, down_at), "modem": SourceState(False, down_at - 100)})
    assert p.take() == [] and not p.stale
    assert p.next_due() == down_at + 30                       # the latest to go down counts
    clock.now = down_at + 30
    writes = p.take()
    assert summary(writes) == [("priority", "0", "NO LIVE DATA: modem, pbx1 DOWN")]
    assert commands(writes[0])[0][1].startswith(b"0\x1b b\x1c1NO LIVE DATA")
    clock.now += 5
    assert p.take() == []
    p.on_sources({"pbx1": SourceState(True, clock.now), "modem": SourceState(False, down_at)})
    p.on_figures({"sales": SALES})
    writes = p.take()
    assert [w.kind for w in writes] == ["string"] * 4 + ["cancel"]     # values first, then clear


def test_one_source_up_means_not_stale_and_no_sources_never_stale(clock):
    p = started(clock, stale_after_s=30)
    p.on_sources({"pbx1": (False, 0.0), "line1": (True, 0.0)})
    clock.now += 1000
    assert p.take() == [] and not p.stale
    p.on_sources({})
    assert p.take() == []


def test_replug_writes_everything_again_including_the_warning(clock):
    p = started(clock, stale_after_s=30)
    p.on_figures({"sales": SALES})
    p.take()
    p.on_sources({"pbx1": (False, clock.now - 60)})
    clock.now += 5
    assert [w.kind for w in p.take()] == ["priority"]
    p.on_replug()
    clock.now += 5
    writes = p.take()
    assert [w.kind for w in writes] == ["config", "text", "text"] + ["string"] * 8 + ["priority"]
    assert ("string", "b", "1:05") in summary(writes) and p.setups == 2


def test_long_names_and_many_fields_stay_within_sign_limits(clock):
    template = "{queue}:{waiting}/{longest_wait}/{agents_available}/{agents_on_call}/{agents_paused}"
    p = presenter(clock, queues=("q" * 200, "r", "s", "t"), template=template)
    config, *writes = p.take()
    files = Framer().feed(config.packet)[0].commands[0].data[1:]
    assert len(files) // 11 == 24                 # 4 TEXT + 20 STRING, labels A-D and a-t
    p.on_sources({f"source-{i}": (False, 0.0) for i in range(40)})
    clock.now += 1000
    (warning,) = p.take()
    assert len(warning.value) == 120 and warning.value.endswith("...")
