#!/usr/bin/python3
"""
test_replica.py - EFFMON_DATABASE_READ_URL against a real streaming standby of the
test cluster: read-only routes are answered from the standby once it has replayed
a write; a standby that is stopped, or whose replay is paused past
EFFMON_READ_MAX_LAG, is bypassed to the primary (never a 5xx), and used again
when it is back; writes never go to it; /readyz and /metrics report it. Without
the setting nothing of it shows.
"""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_status, wait_for  # noqa: E402

API = '/api/v1'
PASSWORD = 'correct horse battery'
SAMPLE = re.compile(r'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$')


def metrics(d):
    r = d.request('GET', '/metrics')
    assert_status(r, 200, 'GET /metrics')
    out = []
    for line in r.body.decode('utf-8').splitlines():
        m = SAMPLE.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ''))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def value(samples, name, **labels):
    found = [v for n, lb, v in samples
             if n == name and all(lb.get(k) == w for k, w in labels.items())]
    return found[0] if len(found) == 1 else None


class ReplicaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster()
        cls.addClassCleanup(cls.cluster.destroy)
        # No background transactions (autovacuum's ANALYZE): an idle primary stays idle.
        cls.cluster.psql('ALTER SYSTEM SET autovacuum = off', db='postgres')
        cls.cluster.psql('SELECT pg_reload_conf()', db='postgres')
        cls.standby = harness.Standby(cls.cluster)
        cls.addClassCleanup(cls.standby.destroy)
        # One worker: /readyz reports the connection the reads use.
        cls.daemon = harness.Daemon(cls.cluster, threads=1, env={
            'EFFMON_DATABASE_READ_URL': cls.standby.url,
            'EFFMON_READ_MAX_LAG': '1',
        })
        cls.addClassCleanup(cls.daemon.destroy)
        cls.daemon.create_user('admin1', 'admin', PASSWORD)
        cls.token = cls.daemon.login('admin1', PASSWORD)
        cls.seq = 40

    def setUp(self):
        # Every test starts from a standby that is up, replaying and caught up.
        if not self.standby.running:
            self.standby.start()
        if self.standby.psql('SELECT pg_is_wal_replay_paused()') == 't':
            self.standby.psql('SELECT pg_wal_replay_resume()')
        self.standby.wait_replayed()

    def counters(self):
        s = metrics(self.daemon)
        return {
            'served': value(s, 'effmon_db_read_replica_reads_total'),
            'down': value(s, 'effmon_db_read_replica_bypassed_total', reason='down'),
            'lagging': value(s, 'effmon_db_read_replica_bypassed_total', reason='lagging'),
            'error': value(s, 'effmon_db_read_replica_bypassed_total', reason='error'),
        }

    def create_region(self):
        type(self).seq += 1
        body = {'code': '%02d' % self.seq, 'name': 'Replica region %d' % self.seq}
        r = self.daemon.request('POST', API + '/regions', body, token=self.token)
        # A write on the standby would fail (25006): the write went to the primary.
        assert_status(r, 201, 'POST /regions')
        return r.json['id']

    def region_ids(self):
        r = self.daemon.request('GET', API + '/regions?limit=200', token=self.token)
        self.assertNotEqual(r.status // 100, 5, 'GET /regions: %r' % r)
        assert_status(r, 200, 'GET /regions')
        return {x['id'] for x in r.json['items']}

    def readyz(self):
        r = self.daemon.request('GET', '/readyz')
        assert_status(r, 200, 'GET /readyz')
        return r.json['read_replica']

    def wait_served(self, what):
        """Reads until one is answered from the standby (the counter moves)."""
        before = self.counters()['served']

        def served():
            self.region_ids()
            return self.counters()['served'] > before
        wait_for(served, 20, what=what)

    def test_1_replayed_write_is_read_from_the_replica(self):
        c = self.counters()
        self.assertIsNotNone(c['served'], 'no effmon_db_read_replica_reads_total')
        for k in ('down', 'lagging', 'error'):
            self.assertIsNotNone(c[k], 'no bypass counter for %s' % k)
        self.assertIsNotNone(value(metrics(self.daemon), 'effmon_db_pool_connections',
                                   pool='read', state='idle'))
        rid = self.create_region()
        self.standby.wait_replayed()
        self.wait_served('a read served by the standby')
        before = self.counters()['served']
        self.assertIn(rid, self.region_ids())
        self.assertGreater(self.counters()['served'], before, 'the list was not read from '
                           'the standby')
        # The standby holds the daemon's read connection.
        n = int(self.standby.psql("SELECT count(*) FROM pg_stat_activity "
                                  "WHERE application_name = 'effmond'"))
        self.assertGreaterEqual(n, 1, 'no effmond session on the standby')
        # A single object (If-Match flows) is read on the primary: the counter stays.
        before = self.counters()['served']
        assert_status(self.daemon.request('GET', API + '/regions/%d' % rid, token=self.token),
                      200, 'GET /regions/{id}')
        self.assertEqual(self.counters()['served'], before)
        rr = self.readyz()
        self.assertEqual(rr['configured'], True)
        self.assertEqual(rr['state'], 'up', rr)
        self.assertGreaterEqual(rr['lag_seconds'], 0)
        self.assertLessEqual(rr['lag_seconds'], 1)

    def test_2_stopped_standby_is_bypassed_then_used_again(self):
        rid = self.create_region()
        self.standby.wait_replayed()
        before = self.counters()
        self.standby.stop('immediate')
        for _ in range(5):
            self.assertIn(rid, self.region_ids())
            r = self.daemon.request('GET', API + '/public/aggregates')
            self.assertNotEqual(r.status // 100, 5, 'public aggregates, standby down: %r' % r)
        rr = self.readyz()
        self.assertEqual(rr['state'], 'down', rr)
        self.assertIsNone(rr['lag_seconds'])
        after = self.counters()
        self.assertGreater(after['down'] + after['error'], before['down'] + before['error'],
                           'no bypass counted: %r -> %r' % (before, after))
        self.assertIsNotNone(value(metrics(self.daemon), 'effmon_db_pool_connections',
                                   pool='read', state='broken'))
        # A write meanwhile, then the standby back: it catches up and serves again.
        rid2 = self.create_region()
        self.standby.start()
        self.standby.wait_replayed()
        self.wait_served('the restarted standby used again')
        self.assertIn(rid2, self.region_ids())
        wait_for(lambda: self.readyz()['state'] == 'up', 10, what='readyz: replica up')

    def test_3_paused_replay_past_the_lag_bound_reads_the_primary(self):
        self.wait_served('the standby in use before the pause')
        self.standby.psql('SELECT pg_wal_replay_pause()')
        wait_for(lambda: self.standby.psql('SELECT pg_get_wal_replay_pause_state()') == 'paused',
                 10, what='replay paused')
        before = self.counters()
        rid = self.create_region()
        # Only the primary has the row; it is answered once the lag passes 1 s.
        wait_for(lambda: rid in self.region_ids(), 20, what='the new region read from the '
                 'primary')
        self.assertEqual(self.standby.psql('SELECT count(*) FROM regions WHERE id = %d' % rid),
                         '0', 'the standby replayed although paused')
        self.assertGreater(self.counters()['lagging'], before['lagging'])
        rr = self.readyz()
        self.assertEqual(rr['state'], 'lagging', rr)
        self.assertGreater(rr['lag_seconds'], 1)
        lag = value(metrics(self.daemon), 'effmon_db_read_replica_lag_seconds')
        self.assertIsNotNone(lag)
        self.assertGreater(lag, 1)
        self.standby.psql('SELECT pg_wal_replay_resume()')
        self.standby.wait_replayed()
        self.wait_served('the standby used again after the resume')

    def test_5_aggregates_no_stale_304_once_the_primary_answers(self):
        """The replica's (older) campaign stamp never lands in the meta cache the primary's
        connection trusts: once the primary answers, a client holding the ETag the replica
        gave gets the new answer, not a 304."""
        scope = self.cluster.add_scope()
        r = self.daemon.request('POST', API + '/campaigns', {
            'region_id': scope['region'], 'year': 2026, 'title': 'Replica campaign',
            'goals': ['Goal'], 'opens_at': '2026-03-01T00:00:00+03:00',
            'closes_at': '2026-04-30T23:59:59+03:00', 'catalog_from': None}, token=self.token)
        assert_status(r, 201, 'POST /campaigns')
        path = API + '/aggregates?campaign=%d' % r.json['id']
        self.standby.wait_replayed()
        before = self.counters()['served']

        def tag_from_replica():
            r = self.daemon.request('GET', path, token=self.token)
            assert_status(r, 200, 'GET ' + path)
            return self.counters()['served'] > before and r.headers['etag']
        old = wait_for(tag_from_replica, 20, what='aggregates read from the standby')
        self.create_region()  # a fresh replay timestamp: the lag grows from now on
        self.standby.wait_replayed()
        self.standby.psql('SELECT pg_wal_replay_pause()')
        # A change of the ETag's inputs (the region's municipalities), announced by NOTIFY.
        self.cluster.psql("UPDATE municipalities SET name = name || ' (renamed)', "
                          "version = version + 1 WHERE id = %d" % scope['municipality'])

        def answered_by_primary():
            c0 = self.counters()
            r = self.daemon.request('GET', path, token=self.token,
                                    headers={'If-None-Match': old})
            self.assertNotEqual(r.status // 100, 5, r)
            if self.counters()['lagging'] == c0['lagging']:
                return None  # still read from the paused standby: its stamp is the old one
            return r
        r = wait_for(answered_by_primary, 20, interval=0.02, what='the primary answering')
        assert_status(r, 200, 'the primary with the replica\'s old ETag')
        self.assertNotEqual(r.headers['etag'], old)

    def test_6_a_failing_replica_statement_is_answered_by_the_primary(self):
        """A statement that fails on the replica runs again on the primary within the
        request: here the replica's role may not read the table (42501)."""
        self.cluster.psql("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                          "'effmon_noread') THEN CREATE ROLE effmon_noread LOGIN; END IF; END$$")
        rid = self.create_region()
        self.standby.wait_replayed()
        d = harness.Daemon(self.cluster, threads=1, migrate=False, env={
            'EFFMON_DATABASE_READ_URL': self.standby.url_for('effmon', user='effmon_noread'),
            'EFFMON_JWT_SECRET': self.daemon.secret})
        try:
            for _ in range(3):
                r = d.request('GET', API + '/regions?limit=200', token=self.token)
                assert_status(r, 200, 'GET /regions, the replica refusing the table')
                self.assertIn(rid, {x['id'] for x in r.json['items']})
            s = metrics(d)
            self.assertEqual(value(s, 'effmon_db_read_replica_bypassed_total',
                                   reason='error'), 3)
            self.assertEqual(value(s, 'effmon_db_read_replica_reads_total'), 0)
            self.assertEqual(d.request('GET', '/readyz').json['read_replica']['state'], 'up')
        finally:
            d.destroy()

    def test_7_every_replica_route_runs_on_a_hot_standby(self):
        """Each route marked for the replica is answered from it without a failure there
        (a handler that wrote, or used what a standby refuses, would be counted as an error
        and answered by the primary)."""
        scope = self.cluster.add_scope()
        r = self.daemon.request('POST', API + '/campaigns', {
            'region_id': scope['region'], 'year': 2025, 'title': 'Replica routes',
            'goals': ['Goal'], 'opens_at': '2026-03-01T00:00:00+03:00',
            'closes_at': '2026-04-30T23:59:59+03:00', 'catalog_from': None}, token=self.token)
        assert_status(r, 201, 'POST /campaigns')
        camp = r.json['id']
        self.standby.wait_replayed()
        self.wait_served('the standby in use')
        paths = [API + '/' + x for x in (
            'regions', 'municipalities', 'organizations', 'directions', 'competencies',
            'managers', 'reserve', 'campaigns', 'roadmaps', 'milestones',
            'campaigns/%d/scores' % camp, 'campaigns/%d/outliers' % camp,
            'campaigns/%d/calibration' % camp,
            'campaigns/%d/warnings' % camp,
            'managers/%d/scores' % scope['manager'], 'aggregates?campaign=%d' % camp,
            'public/aggregates', 'campaigns/%d/cycle-report' % camp)]
        for path in paths:
            with self.subTest(path=path):
                def once():
                    c0 = self.counters()
                    r = self.daemon.request('GET', path, token=self.token)
                    self.assertNotEqual(r.status // 100, 5, 'GET %s: %r' % (path, r))
                    c1 = self.counters()
                    self.assertEqual(c1['error'], c0['error'], 'GET %s failed on the standby: '
                                     '%s' % (path, self.daemon.log_tail(5)))
                    return c1['served'] > c0['served']
                # A read at the instant of a lag measure may go to the primary: retry.
                wait_for(once, 10, what='GET %s served by the standby' % path)

    def test_8_an_idle_primary_is_not_lag(self):
        """Nothing written for longer than the bound: the last replayed transaction is old,
        but the standby has replayed all it received, so it is not lagging."""
        wait_for(lambda: self.standby.psql(
            'SELECT now() - pg_last_xact_replay_timestamp() > interval \'1.5 s\' AND '
            'pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()') == 't',
            20, what='no transaction replayed for 1.5 s, nothing left to replay')
        # The worker's last measure is older than a second: this read measures again.
        before = self.counters()['served']
        self.region_ids()
        self.assertEqual(self.counters()['served'], before + 1,
                         'the standby of an idle primary was taken for lagging')
        rr = self.readyz()
        self.assertEqual(rr['state'], 'up', rr)
        self.assertLessEqual(rr['lag_seconds'], 1, rr)

    def test_4_without_read_url_nothing_changes(self):
        d = harness.Daemon(self.cluster, threads=1, migrate=False)
        try:
            r = d.request('GET', '/readyz')
            assert_status(r, 200, 'readyz without a replica')
            self.assertEqual(r.json['read_replica'], {'configured': False})
            s = metrics(d)
            self.assertIsNone(value(s, 'effmon_db_read_replica_reads_total'))
            self.assertFalse([1 for n, lb, _ in s if lb.get('pool') == 'read'])
            self.assertIsNotNone(value(s, 'effmon_db_pool_connections', pool='primary',
                                       state='idle'))
            assert_status(d.request('GET', API + '/public/aggregates'), 200, 'public feed')
        finally:
            d.destroy()


if __name__ == '__main__':
    harness.main()
