"""Retention rules, checked against a second, independent reading of the same rules: group the
points by period, take the newest of each group, keep the N newest groups."""
import datetime
import random
import threading

import pytest

import garbage_check
import synthetic_repo as synth
from ansible_collections.vadp.vsphere.plugins.module_utils._jobs.prune import PruneJob, PruneOptions
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.retention import (
    PointRef,
    RetentionInvalidError,
    RetentionPolicy,
    decide,
    within_start,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.points import parse_time

DAY = datetime.timedelta(days=1)


def expected_kept(times, policy):
    """The same rules written another way: sets of the newest time per period."""
    ordered = sorted(times, reverse=True)
    kept = {ordered[0]} | set(ordered[:policy.keep_last])
    for count, key in ((policy.keep_hourly, "%Y-%m-%d %H"), (policy.keep_daily, "%Y-%m-%d"), (policy.keep_weekly, "%G-%V"),
                       (policy.keep_monthly, "%Y-%m"), (policy.keep_yearly, "%Y")):
        newest_by_period = {}
        for t in ordered:
            newest_by_period.setdefault(t.strftime(key), t)
        kept |= set(sorted(newest_by_period.values(), reverse=True)[:count])
    if policy.keep_within:
        kept |= {t for t in ordered if t >= within_start(ordered[0], policy.keep_within)}
    return kept


def kept_times(times, policy):
    refs = [PointRef("p%d" % i, t) for i, t in enumerate(times)]
    by_id = {r.id: r.time for r in refs}
    return {by_id[d.id] for d in decide(refs, policy) if d.keep}


@pytest.mark.parametrize("seed", range(40))
def test_random_histories_keep_what_the_rules_say(seed):
    rng = random.Random(seed)
    start = synth.utc(2025, 1, 1)
    times = sorted({start + datetime.timedelta(minutes=rng.randrange(0, 60 * 24 * 800)) for _point in range(rng.randrange(1, 300))})
    rules = dict(keep_last=rng.choice([0, 1, 3]), keep_hourly=rng.choice([0, 5]), keep_daily=rng.choice([0, 7, 30]),
                 keep_weekly=rng.choice([0, 4]), keep_monthly=rng.choice([0, 12]), keep_yearly=rng.choice([0, 2]),
                 keep_within=rng.choice([None, "10d", "2w", "36h"]))
    policy = RetentionPolicy(**rules) if any(rules.values()) else RetentionPolicy(keep_daily=3)
    assert kept_times(times, policy) == expected_kept(times, policy)


def test_the_newest_point_of_each_period_is_the_one_kept():
    times = [synth.utc(2026, 3, d, h) for d in (1, 2, 3) for h in (1, 12, 23)]
    assert kept_times(times, RetentionPolicy(keep_daily=2)) == {synth.utc(2026, 3, 3, 23), synth.utc(2026, 3, 2, 23)}


def test_protected_and_newest_points_are_always_kept():
    refs = [PointRef("old", synth.utc(2020, 1, 1), protected=True), PointRef("mid", synth.utc(2021, 1, 1)),
            PointRef("new", synth.utc(2022, 1, 1))]
    decisions = {d.id: d.reasons for d in decide(refs, RetentionPolicy(keep_within="1d"))}
    assert decisions == {"new": ["newest", "within"], "mid": [], "old": ["protected"]}


def test_within_counts_calendar_months_back_from_the_newest_point():
    assert within_start(synth.utc(2026, 3, 31, 12), "1m") == synth.utc(2026, 2, 28, 12)
    assert within_start(synth.utc(2026, 3, 31), "1y1m1w1d1h") == synth.utc(2025, 2, 19, 23)


@pytest.mark.parametrize("duration", ["2026y", "9999y", "24312m", "99999999999999999999y", "9999999999999w",
                                      "99999999999999999999d"])
def test_a_window_reaching_back_past_the_year_1_keeps_every_point(duration):
    """"Keep forever" as a huge keep_within: every point is kept, at once (the month arithmetic once
    looped for ever at year 0, holding the repository's exclusive lease, and huge values overflowed)."""
    points = [PointRef("p%d" % i, synth.utc(2026, 1, 1) - i * 400 * DAY) for i in range(5)]
    decided = []
    deciding = threading.Thread(target=lambda: decided.append(decide(points, RetentionPolicy(keep_within=duration))),
                                daemon=True)  # a run that loops fails at the bound below instead of hanging the suite
    deciding.start()
    deciding.join(timeout=120)
    [decisions] = decided
    assert [d.keep for d in decisions] == [True] * 5 and all("within" in d.reasons for d in decisions)


@pytest.mark.parametrize("policy, words", [
    (dict(), "keeps nothing"),
    (dict(keep_daily=-1), "cannot be negative"),
    (dict(keep_within="30 days"), "not a duration"),
    (dict(keep_within="d"), "not a duration"),
    (dict(keep_within="0d"), "keeps nothing but the newest"),
])
def test_a_bad_policy_is_refused(policy, words):
    with pytest.raises(RetentionInvalidError, match=words) as caught:
        RetentionPolicy(**policy)
    assert caught.value.error_code == "RETENTION_INVALID"


@pytest.mark.slow
def test_a_simulated_year_of_nightly_backups_keeps_what_the_policy_says(tmp_path):
    """A backup every night at 21:00 (and on Sundays another at 09:00), a prune after each: after
    every prune the repository holds exactly the points the independent rules keep out of what the
    previous prune left plus the new point, every one of them restores to its own bytes, and the
    chunk folders hold exactly the chunks those points name."""
    repo = synth.repository(tmp_path / "repo")
    options = PruneOptions(repository=repo.location, keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=3)
    policy = RetentionPolicy(keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=3)
    survivors, contents, day = set(), {}, synth.utc(2025, 1, 1, 21)  # a year that has passed: no point from the future
    shared = synth.chunk(0)  # a chunk every point has: it must outlive every prune
    for n in range(365):
        times = [day + n * DAY] + ([day + n * DAY - datetime.timedelta(hours=12)] if (day + n * DAY).weekday() == 6 else [])
        for when in times:
            data = [shared, synth.chunk(n * 2 + len(contents) + 1), None]
            manifest = synth.add_point(repo, "web01", when, data)
            contents[manifest["id"]] = b"".join(d or bytes(synth.CHUNK) for d in data)
            survivors.add(when)
        result = PruneJob(options).run()
        survivors = expected_kept(survivors, policy)
        manifests = repo.points.list()
        assert {parse_time(m["time"]) for m in manifests} == survivors
        assert result["points_kept"] == len(manifests)
    for manifest in manifests:
        assert synth.image(repo, manifest) == contents[manifest["id"]]
    assert garbage_check.unreferenced(repo) == set() and garbage_check.missing(repo) == set()
    # Dec 25-31 (daily); Dec 14 and 21 (weekly: ISO weeks 50, 51); the ends of January to November (monthly)
    assert len(manifests) == 7 + 2 + 11


def test_a_point_from_the_future_is_never_latest_and_stops_a_prune(tmp_path):
    """A backup host whose clock is a year ahead wrote a point: it does not become latest (a
    restore, an incremental's parent), and keep_last 1 removes nothing instead of every real point."""
    from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import PointNotFoundError
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    repo = synth.repository(tmp_path / "repo")
    real = [synth.add_point(repo, "web01", now - days * DAY, [synth.chunk(days)]) for days in (3, 2, 1)]
    ahead = synth.add_point(repo, "web01", now + 365 * DAY, [synth.chunk(9)])
    key = real[0]["vm"]["instance_uuid"]
    assert repo.points.find(key, "latest")["id"] == real[-1]["id"]
    assert repo.points.find(key, ahead["id"])["id"] == ahead["id"]  # asked for by id, it is there
    with pytest.raises(Exception) as refused:
        PruneJob(PruneOptions(repository=repo.location, keep_last=1)).run()
    assert refused.value.error_code == "POINT_IN_FUTURE" and ahead["id"] in refused.value.message
    assert [m["id"] for m in repo.points.list()] == [m["id"] for m in real] + [ahead["id"]]  # nothing removed
    only_ahead = synth.add_point(repo, "db01", now + 365 * DAY, [synth.chunk(8)])
    with pytest.raises(PointNotFoundError, match="only points dated in the future"):
        repo.points.find(only_ahead["vm"]["instance_uuid"], "latest")
