#!/usr/bin/python3
"""
test_aggregates.py - GET /aggregates and GET /public/aggregates against an
independent recomputation from the scores formula (ScoresWorld of test_scores.py):
counts, mean, median, quartiles, min, max, level distribution and the change since the
previous campaign, for every grouping and combinations; the rollups equal a rebuild
from scratch after incremental changes; a repeated conditional GET is 304 and a change
makes it 200 again; CSV (BOM, CRLF, header, semicolon option) parsed back; the public
feed: published campaigns only, groups under 3 organizations suppressed, no personal
data; role and scope rules. The meta cache (LISTEN/NOTIFY, migration 0009): a 304 and a
cached 200 need no query, a write through the daemon changes its ETag at once, a
second daemon on the same database sees it within 1 s, a renamed municipality changes
the ETag, and with PostgreSQL stopped a conditional GET answers 503 at once.
"""
import csv
import io
import json
import os
import sys
import time
from decimal import Decimal as D

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
from test_scores import (API, DIRECTIONS, LEVELS, ScoresWorld, dec, far_value,  # noqa: E402
                         quantile, r2, url)

FIGURES = ('expected', 'submitted', 'submitted_on_time', 'approved', 'count', 'mean',
           'median', 'q1', 'q3', 'min', 'max', 'high', 'sufficient', 'low', 'critical',
           'mean_previous', 'mean_change', 'suppressed')
GROUPINGS = ([], ['municipality'], ['kind'], ['direction'], ['level'],
             ['municipality', 'kind'], ['kind', 'direction'], ['level', 'direction'],
             ['municipality', 'direction'], ['municipality', 'kind', 'direction', 'level'])


COMPLEMENTARY = 'complementary: another group of the same total has fewer than 3 organizations'
HIDDEN = ('count', 'mean', 'median', 'q1', 'q3', 'min', 'max', 'mean_previous',
          'mean_change') + LEVELS


def complementary(want, groups, order):
    """The public feed's complementary suppression, recomputed: along each dimension that
    splits organizations, the groups differing in it alone hide none or at least two; where
    one is hidden, the smallest other (count, then its place in the answer) is hidden too."""
    place = {k: i for i, k in enumerate(order)}
    # in the server's order of dimensions: municipality, kind, level
    dims = [groups.index(g) for g in ('municipality', 'kind', 'level') if g in groups]
    changed = True
    while changed:
        changed = False
        for i in dims:
            parts = {}
            for key in want:
                parts.setdefault(key[:i] + key[i + 1:], []).append(key)
            for keys in parts.values():
                hidden = [k for k in keys if want[k]['suppressed']]
                open_ = [k for k in keys if not want[k]['suppressed']]
                if len(hidden) == 1 and open_:
                    v = min(open_, key=lambda k: (want[k]['count'], place.get(k, 0)))
                    want[v]['suppressed'] = COMPLEMENTARY
                    for f in HIDDEN:
                        want[v][f] = None
                    changed = True


class AggregatesTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = ScoresWorld(cls.daemon, cls.cluster, seed=7)

    # --- the recomputation

    def expected(self, camp, groups, unapproved=False, muni=None, public=False):
        """{group key tuple: figures} from the formula."""
        w = self.w
        counted = ('approved', 'submitted', 'verified') if unapproved else ('approved',)
        prev_id = w.prev if camp == w.cur else None

        def keyed(scores):
            out = {}
            for s in scores.values():
                if muni is not None and s['muni'] != muni:
                    continue
                base = {'municipality': s['muni'], 'kind': s['kind'], 'level': s['level']}
                dirs = DIRECTIONS if 'direction' in groups else [None]
                for d in dirs:
                    key = tuple(base[g] if g != 'direction' else d for g in groups)
                    if 'level' in groups and s['level'] is None:
                        continue
                    value = s['total'] if d is None else s['directions'][d]
                    out.setdefault(key, []).append((s, value))
            return out

        cur = keyed(w.expected_scores(camp))
        prev = keyed(w.expected_scores(prev_id)) if prev_id else {}
        # Directions of the campaign's catalog only, as groups.
        catalog_dirs = {i['direction'] for i in w.catalog[camp]}
        result = {}
        for key, members in cur.items():
            if 'direction' in groups and key[groups.index('direction')] not in catalog_dirs:
                continue
            subs = [s for s, _ in members]
            vals = sorted(v for s, v in members if s['status'] in counted and v is not None
                          and s['total'] is not None)
            f = {'expected': len(subs),
                 'submitted': sum(1 for s in subs
                                  if s['status'] in ('submitted', 'verified', 'approved')),
                 'submitted_on_time': sum(1 for s in subs if s['on_time']),
                 'approved': sum(1 for s in subs if s['status'] == 'approved'),
                 'count': len(vals)}
            lv = {lvl: sum(1 for s, v in members if s['status'] in counted and v is not None
                           and s['level'] == lvl) for lvl in LEVELS}
            f.update(lv)
            if vals:
                f.update(mean=r2(sum(vals) / len(vals)), median=r2(quantile(vals, '0.5')),
                         q1=r2(quantile(vals, '0.25')), q3=r2(quantile(vals, '0.75')),
                         min=vals[0], max=vals[-1])
            else:
                f.update(mean=None, median=None, q1=None, q3=None, min=None, max=None)
            pvals = [v for s, v in prev.get(key, []) if s['status'] in counted
                     and v is not None and s['total'] is not None]
            pmean = r2(sum(pvals) / len(pvals)) if pvals else None
            f['mean_previous'] = pmean
            f['mean_change'] = (f['mean'] - pmean) if f['mean'] is not None and \
                pmean is not None else None
            f['suppressed'] = None
            if public:
                if f['expected'] < 3 or f['count'] < 3:
                    f['suppressed'] = 'fewer than 3 organizations'
                    for k in ('count', 'mean', 'median', 'q1', 'q3', 'min', 'max',
                              'mean_previous', 'mean_change') + LEVELS:
                        f[k] = None
                    if f['expected'] < 3:
                        for k in ('expected', 'submitted', 'submitted_on_time', 'approved'):
                            f[k] = None
                elif len(pvals) < 3:
                    f['mean_previous'] = f['mean_change'] = None
            result[key] = f
        return result

    def group_key(self, g, groups):
        out = []
        for name in groups:
            out.append(g['municipality_id'] if name == 'municipality' else g[name])
        return tuple(out)

    def flat(self, g):
        f = {k: g.get(k) for k in FIGURES if k not in LEVELS}
        for lvl in LEVELS:
            f[lvl] = (g.get('levels') or {}).get(lvl)
        return {k: dec(v) if isinstance(v, (int, float, D)) and not isinstance(v, bool)
                and k not in ('expected', 'submitted', 'submitted_on_time', 'approved',
                              'count') + LEVELS else v for k, v in f.items()}

    def compare(self, camp, groups, token, unapproved=False, muni=None, public=False):
        w = self.w
        base = API + ('/public/aggregates' if public else '/aggregates')
        r = w.get(url(base, campaign=camp, group_by=','.join(groups) or None,
                      include='unapproved' if unapproved else None), token)
        assert_status(r, 200, 'aggregates %r' % groups)
        doc = w.json(r)
        self.assertEqual(doc['group_by'], [g for g in ('municipality', 'kind', 'direction',
                                                       'level') if g in groups])
        got = {self.group_key(g, groups): self.flat(g) for g in doc['groups']}
        want = self.expected(camp, groups, unapproved, muni, public)
        if public:
            complementary(want, groups, [self.group_key(g, groups) for g in doc['groups']])
        self.assertEqual(set(got), set(want), 'groups of %r' % groups)
        for key in want:
            self.assertEqual(got[key], want[key], 'group %r of %r (include=%s public=%s)'
                             % (key, groups, unapproved, public))
        return doc, r

    def etag_of(self, path, token, daemon=None):
        r = (daemon or self.daemon).request('GET', path, token=token, timeout=30)
        assert_status(r, 200, 'GET ' + path)
        return r.headers['etag']

    def await_change(self, path, token, old_tag, within=2.0):
        """A write made outside the daemon (psql here) reaches it by NOTIFY, within
        milliseconds but not instantly: poll (bounded) until the ETag moves on. Once one
        request has seen it, every later one of the process does (the generation is
        process-wide)."""
        deadline = time.monotonic() + within
        while True:
            tag = self.etag_of(path, token)
            if tag != old_tag:
                return tag
            self.assertLess(time.monotonic(), deadline,
                            'the ETag of %s did not change within %.1fs of a write' % (path, within))
            time.sleep(0.02)

    def second_daemon(self, threads=1):
        """Another effmond on the same database (a replica), same JWT secret."""
        d = harness.Daemon(self.cluster, env={'EFFMON_JWT_SECRET': self.daemon.secret},
                           migrate=False, threads=threads)
        self.addCleanup(d.destroy)
        return d

    def put_score_change(self, daemon):
        """Through daemon: PUT a regional_import value of a submitted submission of the
        current campaign, far enough from the old one to change its total."""
        w = self.w
        if not w.sql("SELECT 1 FROM submissions WHERE campaign_id = %d AND status = 'submitted' "
                     "LIMIT 1" % w.cur):
            sid = w.sql("UPDATE submissions SET status = 'submitted', first_submitted_at = now() "
                        "WHERE id = (SELECT id FROM submissions WHERE campaign_id = %d AND status "
                        "= 'approved' ORDER BY id LIMIT 1) RETURNING id" % w.cur)
            w.sql('SELECT em_rescore(ARRAY[%s]::bigint[])' % sid)
        subs = w.load(w.cur)
        for sid in sorted(subs):
            s = subs[sid]
            if s['status'] != 'submitted':
                continue
            ind = next((i for i in w.catalog[w.cur] if i['source'] == 'regional_import'
                        and i['weights'].get(s['kind'], 0) > 0 and i['type'] != 'boolean'), None)
            if ind:
                break
        else:
            self.fail('no submitted submission with a numeric regional_import indicator')
        path = '%s/submissions/%d' % (API, sid)
        tag = daemon.request('GET', path, token=w.tok['admin'], timeout=30).headers['etag']
        r = daemon.request('PUT', path + '/values', token=w.tok['regional_operator'],
                           body={'values': [{'indicator': ind['code'], 'value': float(
                               far_value(ind, s['values'].get(ind['id'])))}]},
                           headers={'If-Match': tag}, timeout=30)
        assert_status(r, 200, 'PUT a regional_import value of %d' % sid)
        return sid

    SUMMARY_KEYS = ('campaign_id', 'direction_id', 'unapproved', 'municipality_id')

    def kept_summaries(self):
        """aggregate_summaries as {key: (stat, levels)}."""
        rows = self.w.sql("SELECT json_agg(json_build_array(campaign_id, direction_id, "
                          "unapproved, municipality_id, stat, levels)) FROM aggregate_summaries")
        return {tuple(r[:4]): (r[4], r[5]) for r in json.loads(rows or '[]')}

    def rebuilt_summaries(self):
        """The same computed afresh from every histogram entry of score_buckets."""
        rows = self.w.sql(
            "WITH k AS (SELECT b.campaign_id, b.direction_id, u.unapproved, b.municipality_id, "
            "dense_rank() OVER (ORDER BY b.campaign_id, b.direction_id, u.unapproved, "
            "b.municipality_id) AS g, b.value, b.level, b.n::bigint AS n "
            "FROM score_buckets b CROSS JOIN (VALUES (false), (true)) u (unapproved) "
            "WHERE b.approved OR u.unapproved) "
            "SELECT json_agg(json_build_array(g.campaign_id, g.direction_id, g.unapproved, "
            "g.municipality_id, h.stat, h.levels)) "
            "FROM (SELECT DISTINCT campaign_id, direction_id, unapproved, municipality_id, g "
            "FROM k) g JOIN em_hist_stats(ARRAY(SELECT ROW(g, value, level, n)::em_hist_row "
            "FROM k)) h ON h.grp = g.g")
        return {tuple(r[:4]): (r[4], r[5]) for r in json.loads(rows or '[]')}

    # --- tests

    def test_01_every_grouping_matches_the_formula(self):
        w = self.w
        for groups in GROUPINGS:
            self.compare(w.cur, groups, w.tok['regional_operator'])
            self.compare(w.cur, groups, w.tok['admin'], unapproved=True)
        # A municipal operator aggregates its own municipality.
        self.compare(w.cur, ['kind'], w.tok['municipal_operator'], muni=w.muni_a1)
        self.compare(w.cur, ['kind', 'direction'], w.tok['portal'])
        # The kept summaries, in the caller's scope.
        self.compare(w.cur, ['municipality'], w.tok['municipal_operator'], muni=w.muni_a1)
        self.compare(w.cur, ['municipality', 'direction'], w.tok['portal'], unapproved=False)

    def test_02_rollups_equal_a_rebuild_after_changes(self):
        w = self.w
        probe = url(API + '/aggregates', campaign=w.cur, group_by='kind', include='unapproved')
        before = self.etag_of(probe, w.tok['admin'])
        # Incremental changes: statuses, values, a removed value, thresholds.
        w.sql("UPDATE submissions SET status = 'approved' WHERE campaign_id = %d AND status = "
              "'verified'; SELECT em_rescore(array_agg(id)) FROM submissions WHERE campaign_id = %d"
              % (w.cur, w.cur))
        sid = int(w.sql("SELECT min(submission_id) FROM submission_values v JOIN submissions s "
                        "ON s.id = v.submission_id WHERE s.campaign_id = %d" % w.cur))
        w.sql("BEGIN; DELETE FROM submission_values WHERE submission_id = %d; "
              "SELECT em_rescore(ARRAY[%d]::bigint[]); COMMIT" % (sid, sid))
        w.sql("BEGIN; UPDATE campaigns SET threshold_high = 70 WHERE id = %d; "
              "SELECT em_rescore_campaign(%d); COMMIT" % (w.cur, w.cur))
        w.thresholds[w.cur]['high'] = D(70)
        rebuilt_counts = w.sql(
            "SELECT string_agg(format('%%s|%%s|%%s|%%s|%%s|%%s|%%s|%%s|%%s', campaign_id, "
            "municipality_id, kind, settlement, size_band, status, on_time, level, n), ',' "
            "ORDER BY 1) FROM (SELECT campaign_id, municipality_id, kind, settlement, size_band, "
            "status, on_time, coalesce(level, 'none') AS level, count(*) AS n "
            "FROM submission_scores GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) x")
        kept_counts = w.sql(
            "SELECT string_agg(format('%%s|%%s|%%s|%%s|%%s|%%s|%%s|%%s|%%s', campaign_id, "
            "municipality_id, kind, settlement, size_band, status, on_time, level, n), ',' "
            "ORDER BY 1) FROM score_counts")
        self.assertEqual(sorted(kept_counts.split(',')), sorted(rebuilt_counts.split(',')))
        rebuilt = w.sql(
            "SELECT string_agg(x::text, ',') FROM (SELECT campaign_id, municipality_id, kind, "
            "settlement, size_band, approved, level, direction_id, value, sum(n) FROM "
            "em_bucket_contrib(ARRAY(SELECT submission_id FROM submission_scores), 1) "
            "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9) x")
        kept = w.sql("SELECT string_agg(x::text, ',') FROM (SELECT campaign_id, municipality_id, "
                     "kind, settlement, size_band, approved, level, direction_id, value, n "
                     "FROM score_buckets) x")
        self.assertEqual(sorted(kept.split(',')), sorted(rebuilt.split(',')))
        kept = self.kept_summaries()
        self.assertTrue(any(k[0] == w.cur for k in kept), 'summaries of the campaign')
        self.assertEqual(kept, self.rebuilt_summaries())
        self.await_change(probe, w.tok['admin'], before)
        for groups in (['kind'], ['level', 'direction'], ['municipality'],
                       ['municipality', 'direction']):
            self.compare(w.cur, groups, w.tok['admin'], unapproved=True)
            self.compare(w.cur, groups, w.tok['admin'])

    def test_03_conditional_get_and_cache_headers(self):
        w = self.w
        path = url(API + '/aggregates', campaign=w.cur, group_by='kind')
        tok = w.tok['regional_operator']
        r = w.get(path, tok)
        assert_status(r, 200, 'first GET')
        tag = r.headers['etag']
        self.assertIn('private', r.headers['cache-control'])
        self.assertIn('no-cache', r.headers['cache-control'])
        r2_ = w.get(path, tok, headers={'If-None-Match': tag})
        assert_status(r2_, 304, 'repeated GET')
        self.assertEqual(r2_.body, b'')
        self.assertEqual(r2_.headers['etag'], tag)
        # Another grouping, format or caller is another representation.
        r = w.get(url(API + '/aggregates', campaign=w.cur, group_by='level'), tok,
                  headers={'If-None-Match': tag})
        assert_status(r, 200, 'other grouping')
        r = w.get(path, tok, headers={'If-None-Match': tag, 'Accept': 'text/csv'})
        assert_status(r, 200, 'CSV is another representation')
        r = w.get(path, w.tok['portal'], headers={'If-None-Match': tag})
        assert_status(r, 200, 'another caller')
        # The 304 does not read the rollups: with them locked, it still answers at once.
        holder = w.c.psql_popen("BEGIN; LOCK TABLE score_buckets, score_counts IN ACCESS "
                                "EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT")
        try:
            harness.wait_for(lambda: w.sql(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname IN ('score_buckets', 'score_counts') "
                "AND l.mode = 'AccessExclusiveLock' AND l.granted") == '2', 5, 0.02,
                'the locks on the rollups')
            r = w.get(path, tok, headers={'If-None-Match': tag})
            assert_status(r, 304, 'conditional GET while the rollups are locked')
            self.assertLess(r.elapsed, 2.0)
        finally:
            holder.communicate(timeout=30)
        # A score change makes a new ETag.
        sid = int(w.sql("SELECT id FROM submissions WHERE campaign_id = %d AND status = "
                        "'approved' ORDER BY id LIMIT 1" % w.cur))
        w.sql("BEGIN; UPDATE submissions SET status = 'verified' WHERE id = %d; "
              "SELECT em_rescore(ARRAY[%d]::bigint[]); COMMIT" % (sid, sid))
        # Written by psql, not through the daemon: seen when the NOTIFY arrives.
        deadline = time.monotonic() + 1.0
        while True:
            r = w.get(path, tok, headers={'If-None-Match': tag})
            if r.status != 304 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert_status(r, 200, 'within 1 s of a change')
        self.assertNotEqual(r.headers['etag'], tag)
        w.sql("BEGIN; UPDATE submissions SET status = 'approved' WHERE id = %d; "
              "SELECT em_rescore(ARRAY[%d]::bigint[]); COMMIT" % (sid, sid))

    def test_04_csv(self):
        w = self.w
        for delim, param in ((',', None), (';', 'semicolon')):
            r = w.get(url(API + '/aggregates', campaign=w.cur, group_by='municipality,kind',
                          delimiter=param), w.tok['regional_operator'],
                      headers={'Accept': 'text/csv'})
            assert_status(r, 200, 'CSV')
            self.assertTrue(r.headers['content-type'].startswith('text/csv'))
            self.assertTrue(r.body.startswith(b'\xef\xbb\xbf'), 'UTF-8 BOM')
            text = r.body[3:].decode('utf-8')
            self.assertTrue(text.endswith('\r\n'))
            self.assertNotIn('\n', text.replace('\r\n', ''), 'CRLF line ends')
            rows = list(csv.reader(io.StringIO(text, newline=''), delimiter=delim))
            header = rows[0]
            self.assertEqual(header, ['municipality_id', 'municipality_name', 'kind']
                             + list(FIGURES))
            doc = w.json(w.get(url(API + '/aggregates', campaign=w.cur,
                                   group_by='municipality,kind'), w.tok['regional_operator']))
            self.assertEqual(len(rows) - 1, len(doc['groups']))
            for row, g in zip(rows[1:], doc['groups']):
                rec = dict(zip(header, row))
                self.assertEqual(rec['municipality_name'], g['municipality_name'])
                self.assertEqual(int(rec['municipality_id']), g['municipality_id'])
                self.assertEqual(int(rec['expected']), g['expected'])
                self.assertEqual(D(rec['mean']) if rec['mean'] else None, dec(g['mean']))
                self.assertEqual(D(rec['q3']) if rec['q3'] else None, dec(g['q3']))
                self.assertEqual(int(rec['high']), g['levels']['high'])
        r = w.get(url(API + '/aggregates', campaign=w.cur, delimiter='tab'),
                  w.tok['regional_operator'], headers={'Accept': 'text/csv'})
        assert_problem(r, 400)

    def test_05_public_feed(self):
        w = self.w
        r = w.get(API + '/public/aggregates', None)
        assert_status(r, 200, 'index')
        listed = [c['id'] for c in w.json(r)['campaigns']]
        self.assertIn(w.prev, listed)
        self.assertNotIn(w.cur, listed)
        assert_problem(w.get(url(API + '/public/aggregates', campaign=w.cur), None), 404)
        assert_problem(w.get(url(API + '/public/aggregates', group_by='kind'), None), 400)
        assert_problem(w.get(url(API + '/public/aggregates', campaign=w.prev,
                                 include='unapproved'), None), 400)
        for groups in (['municipality'], ['municipality', 'kind'], ['kind', 'direction'],
                       ['level'], [], ['municipality', 'direction']):
            doc, r = self.compare(w.prev, groups, None, public=True)
            self.assertIn('public', r.headers['cache-control'])
        # A3 has two schools: suppressed, with the reason.
        doc, _ = self.compare(w.prev, ['municipality'], None, public=True)
        a3 = next(g for g in doc['groups'] if g['municipality_id'] == w.muni_a3)
        self.assertEqual(a3['suppressed'], 'fewer than 3 organizations')
        self.assertIsNone(a3['mean'])
        self.assertIsNone(a3['expected'])
        # No personal data: no head's name, no manager, organization or submission id.
        r = w.get(url(API + '/public/aggregates', campaign=w.prev,
                      group_by='municipality,kind,direction,level'), None)
        text = r.body.decode('utf-8')
        for o in w.orgs.values():
            self.assertNotIn(o['manager_name'], text)
            self.assertNotIn(o['name'] + '"', text)
        for k in ('manager_id', 'manager_name', 'organization_id', 'organization_name',
                  'submission_id', 'full_name'):
            self.assertNotIn(k, text)
        # Every group's figures come from at least 3 organizations.
        for g in w.json(r)['groups']:
            if g['suppressed'] is None:
                self.assertGreaterEqual(g['count'], 3)
        # CSV from the public feed too.
        r = w.get(url(API + '/public/aggregates', campaign=w.prev, group_by='kind',
                      delimiter='semicolon'), None, headers={'Accept': 'text/csv'})
        assert_status(r, 200, 'public CSV')
        self.assertTrue(r.body.startswith(b'\xef\xbb\xbf'))

    def test_06_roles_and_scope(self):
        w = self.w
        path = url(API + '/aggregates', campaign=w.cur, group_by='kind')
        for role, st in (('admin', 200), ('regional_operator', 200), ('municipal_operator', 200),
                         ('expert', 200), ('portal', 200), ('head', 403), ('anonymous', 401),
                         ('regional_b', 404)):
            assert_status(w.get(path, w.tok[role]), st, 'aggregates as ' + role)
        for role, st in (('expert', 403), ('portal', 403), ('municipal_operator', 200)):
            assert_status(w.get(path + '&include=unapproved', w.tok[role]), st,
                          'include=unapproved as ' + role)
        doc = assert_problem(w.get(API + '/aggregates', w.tok['admin']), 400)
        self.assertIn('campaign', {e['field'] for e in doc['errors']})
        doc = assert_problem(w.get(url(API + '/aggregates', campaign=w.cur,
                                       group_by='kind,region'), w.tok['admin']), 400)
        self.assertIn('group_by', {e['field'] for e in doc['errors']})
        assert_problem(w.get(url(API + '/aggregates', campaign=999999), w.tok['admin']), 404)
        # The portal gets aggregates but no scores.
        assert_problem(w.get('%s/campaigns/%d/scores' % (API, w.cur), w.tok['portal']), 403)

    def test_07_no_round_trip_while_nothing_changed(self):
        # One worker thread: its connection is the one that LISTENs and answers.
        w = self.w
        d = self.second_daemon(threads=1)
        tok = w.tok['regional_operator']
        path = url(API + '/aggregates', campaign=w.cur, group_by='municipality')
        r = d.request('GET', path, token=tok, timeout=30)
        assert_status(r, 200, 'first GET (fills the caches)')
        tag, body = r.headers['etag'], r.body
        assert_status(d.request('GET', path, token=tok, headers={'If-None-Match': tag}), 304,
                      'a 304 with the database reachable')
        # Every table the ETag is read from, locked: a query would wait 4 s.
        holder = w.c.psql_popen("BEGIN; LOCK TABLE campaigns, aggregate_stamps, municipalities, "
                                "score_counts, score_buckets IN ACCESS EXCLUSIVE MODE; "
                                "SELECT pg_sleep(4); COMMIT")
        try:
            harness.wait_for(lambda: w.sql(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'aggregate_stamps' AND l.mode = 'AccessExclusiveLock' "
                "AND l.granted") == '1', 3.0, 0.05, 'the lock holder')
            r = d.request('GET', path, token=tok, headers={'If-None-Match': tag}, timeout=30)
            assert_status(r, 304, 'conditional GET with the meta tables locked')
            self.assertLess(r.elapsed, 1.0, 'a 304 from the meta cache waits for no lock')
            r = d.request('GET', path, token=tok, timeout=30)
            assert_status(r, 200, 'GET with the meta tables locked')
            self.assertLess(r.elapsed, 1.0, 'a cached 200 waits for no lock')
            self.assertEqual((r.headers['etag'], r.body), (tag, body))
        finally:
            holder.communicate(timeout=30)

    def test_08_a_write_through_the_daemon_changes_the_etag_at_once(self):
        w = self.w
        tok = w.tok['regional_operator']
        path = url(API + '/aggregates', campaign=w.cur, group_by='kind', include='unapproved')
        for _ in range(2):
            tag = self.etag_of(path, tok)
            assert_status(w.get(path, tok, headers={'If-None-Match': tag}), 304, 'before')
            self.put_score_change(self.daemon)
            # No wait, no retry: the writer's COMMIT brought its own notification back.
            r = w.get(path, tok, headers={'If-None-Match': tag})
            assert_status(r, 200, 'the first conditional GET after a score-changing PUT')
            self.assertNotEqual(r.headers['etag'], tag)
            self.compare(w.cur, ['kind'], tok, unapproved=True)
            assert_status(w.get(path, tok, headers={'If-None-Match': r.headers['etag']}), 304,
                          'the new ETag')

    def test_09_a_replica_sees_a_change_within_a_second(self):
        w = self.w
        b = self.second_daemon(threads=2)
        tok = w.tok['regional_operator']
        path = url(API + '/aggregates', campaign=w.cur, group_by='kind', include='unapproved')
        tag = self.etag_of(path, tok, daemon=b)
        self.assertEqual(tag, self.etag_of(path, tok), 'replicas agree on the ETag')
        for _ in range(4):  # both of b's threads hold the entry
            assert_status(b.request('GET', path, token=tok, headers={'If-None-Match': tag}), 304,
                          'the replica before the change')
        self.put_score_change(self.daemon)
        written = time.monotonic()
        new_tag = self.etag_of(path, tok)
        self.assertNotEqual(new_tag, tag)
        while True:
            r = b.request('GET', path, token=tok, headers={'If-None-Match': tag}, timeout=30)
            seen = time.monotonic() - written
            if r.status != 304 or seen > 1.0:
                break
            time.sleep(0.02)
        assert_status(r, 200, 'the replica %.3fs after the change' % seen)
        self.assertLess(seen, 1.0)
        self.assertEqual(r.headers['etag'], new_tag)
        self.assertEqual(w.json(r), w.json(w.get(path, tok)), 'the replica answers the new body')

    def test_10_a_renamed_municipality_changes_the_etag(self):
        w = self.w
        b = self.second_daemon(threads=1)
        tok = w.tok['regional_operator']
        path = url(API + '/aggregates', campaign=w.cur, group_by='municipality')
        tag = self.etag_of(path, tok)
        self.assertEqual(self.etag_of(path, tok, daemon=b), tag)
        assert_status(b.request('GET', path, token=tok, headers={'If-None-Match': tag}), 304,
                      'the replica before the rename')
        mpath = '%s/municipalities/%d' % (API, w.muni_a2)
        r = w.get(mpath, w.tok['admin'])
        name = 'Переименованный округ %d' % w.seq()
        r = w.call('PATCH', mpath, w.tok['admin'], body={'name': name},
                   headers={'If-Match': r.headers['etag']})
        assert_status(r, 200, 'rename A2')
        written = time.monotonic()
        r = w.get(path, tok, headers={'If-None-Match': tag})
        assert_status(r, 200, 'this daemon, at once after the rename')
        self.assertNotEqual(r.headers['etag'], tag)
        got = {g['municipality_id']: g['municipality_name'] for g in w.json(r)['groups']}
        self.assertEqual(got[w.muni_a2], name)
        while True:
            rb = b.request('GET', path, token=tok, headers={'If-None-Match': tag}, timeout=30)
            if rb.status != 304 or time.monotonic() - written > 1.0:
                break
            time.sleep(0.02)
        assert_status(rb, 200, 'the replica within 1 s of the rename')
        self.assertEqual(rb.headers['etag'], r.headers['etag'])

    def test_99_database_stopped(self):
        # Last: PostgreSQL stops under the daemon (fast: backends say goodbye). A cached
        # entry is never used on a connection that is gone; the request takes the normal
        # path and answers 503 at once, never a hang, never a stale 304.
        w = self.w
        tok = w.tok['regional_operator']
        path = url(API + '/aggregates', campaign=w.cur, group_by='level')
        tag = self.etag_of(path, tok)
        for _ in range(4):
            assert_status(w.get(path, tok, headers={'If-None-Match': tag}), 304, 'DB up')
        self.cluster.stop('fast')
        try:
            for what, hdrs in (('conditional GET', {'If-None-Match': tag}), ('GET', None)):
                for _ in range(3):
                    r = self.daemon.request('GET', path, token=tok, headers=hdrs, timeout=15)
                    self.assertLess(r.elapsed, 5.0, '%s with the database stopped' % what)
                    assert_problem(r, 503, '%s with the database stopped' % what)
        finally:
            self.cluster.start()
        r = harness.wait_for(lambda: (lambda x: x if x.status != 503 else None)(
            w.get(path, tok, headers={'If-None-Match': tag})), 10.0, 0.1, 'recovery')
        assert_status(r, 304, 'after the database came back')


if __name__ == '__main__':
    harness.main()
