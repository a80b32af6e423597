#!/usr/bin/python3
"""
test_submissions.py - submissions over HTTP: the lifecycle by the three roles
(the head fills and submits, the municipality verifies, the region approves), returns and
resubmission, every illegal transition (409 naming the allowed ones) and wrong role (403),
every validation error of PUT .../values (nothing written), the submission window, frozen
values and the municipal / regional_import editing rules, history content and pagination,
parallel approvals, scope (404 outside it), If-Match (428/412), and scores kept current.

Campaigns, catalogs and submissions are made with SQL as postgres (as opening a campaign
would make them), except in the lifecycle test, which opens its campaign with POST
/campaigns/{id}/transitions when the daemon has that route. The world (regions A and B,
organizations, heads, users of every role) comes from registry_fixtures.py.
"""
import itertools
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API, assert_fields, url  # noqa: E402

THREAD_TIMEOUT = 60.0

# The test catalog: code -> (value_type, min, max, polarity, source, weights).
CATALOG = {
    'S_NUM': ('number', 0, 200, 'up', 'self', {'school': 2}),
    'S_INT': ('integer', 0, 50, 'up', 'self', {'school': 1}),
    'S_BOOL': ('boolean', None, None, 'up', 'self', {'school': 1, 'preschool': 1}),
    'S_PCT': ('percent', 0, 100, 'down', 'self', {'school': 1}),
    'S_PRE': ('number', 0, 10, 'up', 'self', {'preschool': 1, 'school': 0}),
    'M_NUM': ('number', 0, 10, 'up', 'municipal', {'school': 1}),
    'R_NUM': ('number', 0, 100, 'up', 'regional_import', {'school': 1}),
}
SELF_CODES = ['S_NUM', 'S_INT', 'S_BOOL', 'S_PCT']  # applicable to schools
GOOD_SELF = [{'indicator': 'S_NUM', 'value': 150, 'comment': 'из отчёта ОО-1',
              'evidence_url': 'https://school.example/oo1.pdf'},
             {'indicator': 'S_INT', 'value': 12},
             {'indicator': 'S_BOOL', 'value': True},
             {'indicator': 'S_PCT', 'value': 12.5}]
# DESIGN §2: the moves allowed from each state.
ALLOWED = {
    'draft': ['submitted'],
    'submitted': ['verified', 'returned'],
    'verified': ['approved', 'returned'],
    'approved': [],
    'returned': ['submitted'],
}
STATES = list(ALLOWED)


def run_threads(targets):
    """One thread per callable, started together, joined (bounded); their results."""
    results = [None] * len(targets)
    errors = []
    barrier = threading.Barrier(len(targets))

    def wrap(i, fn):
        try:
            barrier.wait(10)
            results[i] = fn()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i, fn), daemon=True)
               for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + THREAD_TIMEOUT
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            raise AssertionError('a request thread did not finish within %.0fs' % THREAD_TIMEOUT)
    if errors:
        raise errors[0]
    return results


class SubmissionsTest(harness.DaemonTestCase):
    threads = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        w = cls.w = rf.World(cls.daemon, cls.cluster)
        cls.years = itertools.count(2001)
        cls.year_lock = threading.Lock()
        cls.head = w.user('head')                      # head of org_a1
        cls.muni = w.user('municipal_operator')        # muni_a1
        cls.reg = w.user('regional_operator')          # region A
        cls.expert = w.user('expert')
        cls.portal = w.user('portal')
        cls.admin = w.admin
        cls.head_b1 = w.cli_user('head', w.region_a, w.muni_a1, w.org_a1b, w.mgr_a1b)
        cls.muni_a2 = w.cli_user('municipal_operator', w.region_a, w.muni_a2, None)
        cls.reg2 = w.cli_user('regional_operator', w.region_a, None, None)
        cls.routes = cls.daemon.run('routes').stdout

    # --- the world ---------------------------------------------------------------------

    def sql(self, q):
        return self.cluster.psql(q)

    def new_campaign(self, region=None, status='open', opens="now() - interval '1 day'",
                     closes="now() + interval '30 days'", submissions=True):
        """A campaign with the test catalog and one draft submission per active organization
        of the region (as opening makes them); returns (campaign id, {org id: sub id})."""
        region = region or self.w.region_a
        with self.year_lock:
            year = next(self.years)
        cid = int(self.sql(
            "INSERT INTO campaigns (region_id, year, title, opens_at, closes_at, status, opened_at) "
            "VALUES (%d, %d, 'Мониторинг %d', %s, %s, '%s', %s) RETURNING id"
            % (region, year, year, opens, closes, status,
               'NULL' if status == 'draft' else 'now()')))
        self.add_catalog(cid)
        return cid, self.open_submissions(cid, region) if submissions else {}

    def add_catalog(self, cid):
        rows = []
        for pos, (code, (vt, lo, hi, pol, src, weights)) in enumerate(CATALOG.items()):
            rows.append("(%d, '%s', 'Показатель %s', (SELECT id FROM directions WHERE code = '%s'), "
                        "'%s', %s, %s, '%s', '%s', '%s'::jsonb, %d)"
                        % (cid, code, code, 'network' if pos % 2 else 'management', vt,
                           'NULL' if lo is None else lo, 'NULL' if hi is None else hi, pol, src,
                           json.dumps(weights), pos))
        self.sql("INSERT INTO indicators (campaign_id, code, name, direction_id, value_type, "
                 "min_value, max_value, polarity, source, weights, position) VALUES "
                 + ', '.join(rows))

    def open_submissions(self, cid, region):
        out = self.sql(
            "WITH ins AS (INSERT INTO submissions (campaign_id, organization_id, region_id, "
            " municipality_id, kind, manager_id) SELECT %d, o.id, o.region_id, o.municipality_id, "
            " o.kind, (SELECT a.manager_id FROM appointments a WHERE a.organization_id = o.id "
            " AND a.ended_on IS NULL) FROM organizations o WHERE o.region_id = %d "
            " AND o.status = 'active' RETURNING id, organization_id), "
            " h AS (INSERT INTO submission_history (submission_id, actor_role, action, to_status) "
            " SELECT id, 'admin', 'create', 'draft' FROM ins) "
            "SELECT organization_id, id FROM ins" % (cid, region))
        subs = dict(tuple(int(x) for x in line.split('|')) for line in out.split())
        self.sql('SELECT em_rescore(ARRAY[%s]::bigint[])' % ','.join(map(str, subs.values())))
        return subs

    def sub_a1(self, **kw):
        """A fresh draft submission of org_a1 (the head's organization) and its campaign."""
        cid, subs = self.new_campaign(**kw)
        return cid, subs[self.w.org_a1]

    # --- HTTP ---------------------------------------------------------------------------

    def path(self, sid, tail=''):
        return '%s/submissions/%d%s' % (API, sid, tail)

    def get(self, sid, user=None):
        r = self.daemon.request('GET', self.path(sid), token=(user or self.admin).token)
        assert_status(r, 200, 'GET submission %d' % sid)
        return r

    def etag(self, sid):
        return self.get(sid).headers['etag']

    def put(self, sid, values, user, etag=None, headers=None):
        h = {'If-Match': etag or self.etag(sid)}
        h.update(headers or {})
        body = values if isinstance(values, dict) else {'values': values}
        return self.daemon.request('PUT', self.path(sid, '/values'), body=body,
                                   token=user.token, headers=h)

    def move(self, sid, to, user, comment=None, etag=None):
        body = {'to': to}
        if comment is not None:
            body['comment'] = comment
        return self.daemon.request('POST', self.path(sid, '/transitions'), body=body,
                                   token=user.token, headers={'If-Match': etag or self.etag(sid)})

    def history(self, sid, user=None):
        items, _ = self.w.walk(self.path(sid, '/history'), (user or self.admin).token, limit=2)
        return items

    def fill_self(self, sid):
        r = self.put(sid, GOOD_SELF, self.head)
        assert_status(r, 200, 'head fills the self-assessed values')
        return r

    def force(self, sid, status):
        """Puts a submission straight into a status (to test the moves out of it)."""
        self.sql("UPDATE submissions SET status = '%s', version = version + 1 WHERE id = %d"
                 % (status, sid))

    def db_values(self, sid):
        out = self.sql("SELECT i.code, v.value, coalesce(v.submitted_value::text, '-'), "
                       "coalesce(v.verified_value::text, '-') FROM submission_values v "
                       "JOIN indicators i ON i.id = v.indicator_id WHERE v.submission_id = %d "
                       "ORDER BY i.code" % sid)
        return {p[0]: tuple(p[1:]) for p in (line.split('|') for line in out.split())}

    def history_count(self, sid, action=None):
        return int(self.sql("SELECT count(*) FROM submission_history WHERE submission_id = %d%s"
                            % (sid, " AND action = '%s'" % action if action else '')))

    def audit_count(self, sid):
        return int(self.sql("SELECT count(*) FROM audit_events WHERE entity = 'submission' "
                            "AND entity_id = %d" % sid))

    def score_row(self, sid):
        return self.sql("SELECT status, coalesce(total_rounded::text, '-'), filled, applicable "
                        "FROM submission_scores WHERE submission_id = %d" % sid).split('|')

    # --- the lifecycle -----------------------------------------------------------------

    def open_campaign_over_http(self):
        """A draft campaign (SQL), opened with POST /campaigns/{id}/transitions when the
        daemon has it, else opened the way that transition does (SQL)."""
        cid, _ = self.new_campaign(status='draft', submissions=False)
        if 'POST /api/v1/campaigns/{id}/transitions' in self.routes:
            cpath = '%s/campaigns/%d' % (API, cid)
            r = self.daemon.request('GET', cpath, token=self.reg.token)
            assert_status(r, 200, 'GET campaign')
            r = self.daemon.request('POST', cpath + '/transitions', body={'to': 'open'},
                                    token=self.reg.token, headers={'If-Match': r.headers['etag']})
            assert_status(r, 200, 'the region opens the campaign')
            self.assertEqual(r.json['status'], 'open')
        else:
            self.sql("UPDATE campaigns SET status = 'open', opened_at = now() WHERE id = %d" % cid)
            self.open_submissions(cid, self.w.region_a)
        return cid

    def test_lifecycle_by_three_roles(self):
        w = self.w
        cid = self.open_campaign_over_http()
        r = self.daemon.request('GET', url(API + '/submissions', campaign_id=cid),
                                token=self.head.token)
        assert_status(r, 200, 'the head lists its submissions')
        self.assertEqual([s['organization_id'] for s in r.json['items']], [w.org_a1])
        sub = r.json['items'][0]
        sid = sub['id']
        self.assertEqual(sub['status'], 'draft')
        self.assertEqual(sub['manager_id'], w.mgr_a1)
        self.assertEqual(sub['kind'], 'school')
        self.assertEqual(sub['organization_name'], 'Саровская школа №1')
        for k in ('region_id', 'municipality_id', 'return_comment', 'first_submitted_at',
                  'submitted_at', 'verified_at', 'approved_at', 'returned_at', 'score',
                  'created_at', 'updated_at', 'version', 'campaign_id'):
            self.assertIn(k, sub)
        self.assertIsNotNone(sub['score'], 'opening rescored the submission')
        audit0 = self.audit_count(sid)

        # The head fills its values; the municipality and the region add theirs.
        r = self.fill_self(sid)
        self.assertEqual(r.headers['etag'], '"%d"' % r.json['version'])
        vals = {v['indicator']: v for v in r.json['values']}
        self.assertEqual(set(vals), set(SELF_CODES))
        self.assertIs(vals['S_BOOL']['value'], True)
        self.assertEqual(vals['S_NUM']['value'], 150)
        self.assertEqual(vals['S_NUM']['comment'], 'из отчёта ОО-1')
        self.assertEqual(vals['S_NUM']['evidence_url'], 'https://school.example/oo1.pdf')
        self.assertEqual(vals['S_PCT']['value'], 12.5)
        for v in r.json['values']:
            self.assertEqual(set(v), {'indicator', 'indicator_id', 'value', 'comment',
                                      'evidence_url', 'updated_at'})
        assert_status(self.put(sid, [{'indicator': 'M_NUM', 'value': 7}], self.muni), 200,
                      'municipal value in draft')
        assert_status(self.put(sid, [{'indicator': 'R_NUM', 'value': 40}], self.reg), 200,
                      'regional value in draft')

        # submit (head), verify (municipal), approve (regional)
        r = self.move(sid, 'submitted', self.head, comment='Готово')
        assert_status(r, 200, 'head submits')
        self.assertEqual(r.json['status'], 'submitted')
        self.assertIsNotNone(r.json['first_submitted_at'])
        self.assertEqual(r.json['first_submitted_at'], r.json['submitted_at'])
        self.assertEqual(self.db_values(sid)['S_NUM'][1], '150')
        r = self.move(sid, 'verified', self.muni)
        assert_status(r, 200, 'municipality verifies')
        self.assertEqual(r.json['status'], 'verified')
        self.assertIsNotNone(r.json['verified_at'])
        self.assertEqual(self.db_values(sid)['M_NUM'][2], '7')
        r = self.move(sid, 'approved', self.reg)
        assert_status(r, 200, 'region approves')
        self.assertEqual(r.json['status'], 'approved')
        self.assertIsNotNone(r.json['approved_at'])
        self.assertEqual(r.headers['etag'], '"%d"' % r.json['version'])
        self.assertEqual(self.score_row(sid)[0], 'approved')

        # approved is final
        for to in STATES:
            r = self.move(sid, to, self.admin)
            doc = assert_problem(r, 409, 'approved -> %s' % to)
            self.assertIn('from approved', doc['detail'])

        # history: who did what, in order
        hist = self.history(sid, self.head)
        trans = [(h['from'], h['to'], h['actor_user_id'], h['actor_role'])
                 for h in hist if h['action'] == 'transition']
        self.assertEqual(trans, [('draft', 'submitted', self.head.id, 'head'),
                                 ('submitted', 'verified', self.muni.id, 'municipal_operator'),
                                 ('verified', 'approved', self.reg.id, 'regional_operator')])
        self.assertEqual([h for h in hist if h['action'] == 'transition'][0]['comment'], 'Готово')
        self.assertEqual([h['action'] for h in hist].count('values'), 3)
        for h in hist:
            self.assertEqual(set(h), {'id', 'occurred_at', 'actor_user_id', 'actor_role', 'action',
                                      'from', 'to', 'comment', 'changes'})
        # one audit row per write: 3 PUTs and 3 transitions
        self.assertEqual(self.audit_count(sid) - audit0, 6)

    def test_return_and_resubmit(self):
        cid, sid = self.sub_a1()
        self.fill_self(sid)
        first = self.move(sid, 'submitted', self.head)
        assert_status(first, 200, 'submit')
        # returning needs a comment
        r = self.move(sid, 'returned', self.muni)
        assert_fields(r, 400, ['comment'], 'return without a comment')
        r = self.move(sid, 'returned', self.muni, comment='')
        assert_fields(r, 400, ['comment'], 'return with an empty comment')
        r = self.move(sid, 'returned', self.muni, comment='Уточните S_NUM')
        assert_status(r, 200, 'municipality returns')
        self.assertEqual(r.json['status'], 'returned')
        self.assertEqual(r.json['return_comment'], 'Уточните S_NUM')
        self.assertIsNotNone(r.json['returned_at'])
        # the head edits in returned and submits again, after the window's end even
        assert_status(self.put(sid, [{'indicator': 'S_NUM', 'value': 140}], self.head), 200,
                      'head edits a returned submission')
        self.sql("UPDATE campaigns SET opens_at = now() - interval '3 days', "
                 "closes_at = now() - interval '1 day' WHERE id = %d" % cid)
        r = self.move(sid, 'submitted', self.head)
        assert_status(r, 200, 'head resubmits after the window closed')
        self.assertIsNone(r.json['return_comment'])
        self.assertEqual(r.json['first_submitted_at'], first.json['first_submitted_at'])
        self.assertGreater(r.json['submitted_at'], first.json['submitted_at'])
        self.assertEqual(self.db_values(sid)['S_NUM'][1], '140')
        # verified -> returned by the region, then the cycle again
        assert_status(self.move(sid, 'verified', self.muni), 200, 'verify')
        r = self.move(sid, 'returned', self.muni, comment='нет')
        doc = assert_problem(r, 403, 'municipality returns a verified submission')
        self.assertIn('regional operator', doc['detail'])
        assert_status(self.move(sid, 'returned', self.reg, comment='Проверьте S_PCT'), 200,
                      'region returns a verified submission')
        assert_status(self.move(sid, 'submitted', self.head), 200, 'resubmit')
        assert_status(self.move(sid, 'verified', self.muni), 200, 'verify again')
        assert_status(self.move(sid, 'approved', self.reg2), 200, 'approve')
        moves = [(h['from'], h['to']) for h in self.history(sid) if h['action'] == 'transition']
        self.assertEqual(moves, [('draft', 'submitted'), ('submitted', 'returned'),
                                 ('returned', 'submitted'), ('submitted', 'verified'),
                                 ('verified', 'returned'), ('returned', 'submitted'),
                                 ('submitted', 'verified'), ('verified', 'approved')])
        returns = [h['comment'] for h in self.history(sid) if h['to'] == 'returned']
        self.assertEqual(returns, ['Уточните S_NUM', 'Проверьте S_PCT'])
        # what the head first submitted is kept across the returns: the objectivity
        # calibration holds it against what was verified (S_NUM 150 -> 140 of 0..200: 75
        # points self-assessed, 70 verified)
        self.assertEqual(self.sql(
            "SELECT v.self_value || '|' || v.submitted_value || '|' || v.verified_value FROM "
            "submission_values v JOIN indicators i ON i.id = v.indicator_id WHERE "
            "v.submission_id = %d AND i.code = 'S_NUM'" % sid), '150|140|140')
        r = self.daemon.request('GET', '%s/campaigns/%d/calibration?group_by=indicator'
                                % (API, cid), token=self.reg.token)
        assert_status(r, 200, 'calibration of the campaign')
        got = {g['indicator_code']: g for g in r.json['items']}
        self.assertEqual((got['S_NUM']['compared'], got['S_NUM']['lowered'],
                          got['S_NUM']['mean_gap']), (1, 1, 5), got)
        for code in ('S_INT', 'S_BOOL', 'S_PCT'):
            self.assertEqual((got[code]['lowered'], got[code]['raised'], got[code]['mean_gap']),
                             (0, 0, 0), got)

    # --- transitions: illegal moves, roles, campaign ------------------------------------

    def test_illegal_transitions_name_the_allowed_ones(self):
        _, subs = self.new_campaign()
        sid = subs[self.w.org_a1]
        self.fill_self(sid)
        for state in STATES:
            self.force(sid, state)
            for to in STATES:
                if to in ALLOWED[state]:
                    continue
                before = self.history_count(sid)
                r = self.move(sid, to, self.admin, comment='x')
                doc = assert_problem(r, 409, '%s -> %s' % (state, to))
                if ALLOWED[state]:
                    self.assertIn('from %s: allowed %s' % (state, ', '.join(ALLOWED[state])),
                                  doc['detail'])
                else:
                    self.assertIn('from %s' % state, doc['detail'])
                    self.assertIn('final', doc['detail'])
                self.assertEqual(self.history_count(sid), before)
        # an unknown target is a field error
        r = self.move(sid, 'archived', self.admin)
        assert_fields(r, 400, ['to'], 'unknown status')
        r = self.daemon.request('POST', self.path(sid, '/transitions'),
                                body={'to': 'submitted', 'reason': 'x'}, token=self.admin.token,
                                headers={'If-Match': self.etag(sid)})
        assert_fields(r, 400, ['reason'], 'unknown field')

    def test_wrong_role_is_403_naming_who_may(self):
        _, sid = self.sub_a1()
        self.fill_self(sid)
        cases = {
            'draft': [('submitted', self.muni, 'head'), ('submitted', self.reg, 'head')],
            'submitted': [('verified', self.head, 'municipal operator'),
                          ('verified', self.reg, 'municipal operator'),
                          ('returned', self.head, 'municipal or regional operator')],
            'verified': [('approved', self.head, 'regional operator'),
                         ('approved', self.muni, 'regional operator'),
                         ('returned', self.head, 'regional operator'),
                         ('returned', self.muni, 'regional operator')],
            'returned': [('submitted', self.muni, 'head'), ('submitted', self.reg, 'head')],
        }
        for state, moves in cases.items():
            self.force(sid, state)
            for to, user, who in moves:
                r = self.move(sid, to, user, comment='x')
                doc = assert_problem(r, 403, '%s: %s -> %s' % (user.role, state, to))
                self.assertIn(who, doc['detail'])
        # roles the route does not take
        for user in (self.expert, self.portal):
            r = self.move(sid, 'verified', user)
            assert_problem(r, 403, '%s transition' % user.role)
            r = self.put(sid, GOOD_SELF[:1], user)
            assert_problem(r, 403, '%s PUT values' % user.role)
        r = self.daemon.request('POST', self.path(sid, '/transitions'), body={'to': 'verified'},
                                headers={'If-Match': '"1"'})
        assert_problem(r, 401, 'anonymous transition')
        # the admin may make every legal move
        self.force(sid, 'submitted')
        assert_status(self.move(sid, 'verified', self.admin), 200, 'admin verifies')
        assert_status(self.move(sid, 'approved', self.admin), 200, 'admin approves')

    def test_incomplete_submission_is_422_listing_missing_codes(self):
        _, sid = self.sub_a1()
        assert_status(self.put(sid, [GOOD_SELF[0], GOOD_SELF[2]], self.head), 200, 'partial')
        r = self.move(sid, 'submitted', self.head)
        doc = assert_problem(r, 422, 'submit with values missing')
        msgs = ' '.join(e['message'] for e in doc.get('errors', []))
        self.assertEqual(len(doc['errors']), 2)
        self.assertIn('S_INT', msgs)
        self.assertIn('S_PCT', msgs)
        for absent in ('S_NUM', 'S_BOOL', 'S_PRE', 'M_NUM', 'R_NUM'):
            self.assertNotIn(absent, msgs)
        self.assertEqual(self.get(sid).json['status'], 'draft')

    def test_window_closed_head_cannot_submit(self):
        for opens, closes, why in (("now() - interval '10 days'", "now() - interval '1 day'",
                                    'closed yesterday'),
                                   ("now() + interval '1 day'", "now() + interval '10 days'",
                                    'opens tomorrow')):
            cid, sid = self.sub_a1(opens=opens, closes=closes)
            self.fill_self(sid)
            r = self.move(sid, 'submitted', self.head)
            doc = assert_problem(r, 409, 'submit: window %s' % why)
            self.assertIn('window', doc['detail'])
            self.assertEqual(self.history_count(sid, 'transition'), 0)
        # a closed campaign takes no submission; verification goes on while closed
        cid, sid = self.sub_a1()
        self.fill_self(sid)
        assert_status(self.move(sid, 'submitted', self.head), 200, 'submit')
        self.sql("UPDATE campaigns SET status = 'closed' WHERE id = %d" % cid)
        assert_status(self.move(sid, 'verified', self.muni), 200, 'verify in a closed campaign')
        assert_status(self.move(sid, 'returned', self.reg, comment='исправить'), 200,
                      'return in a closed campaign')
        doc = assert_problem(self.move(sid, 'submitted', self.head), 409,
                             'resubmit in a closed campaign')
        self.assertIn('closed', doc['detail'])
        # a published campaign: nothing moves, nothing is written
        self.sql("UPDATE campaigns SET status = 'published' WHERE id = %d" % cid)
        self.force(sid, 'verified')
        doc = assert_problem(self.move(sid, 'approved', self.reg), 409, 'published campaign')
        self.assertIn('published', doc['detail'])
        assert_problem(self.put(sid, [{'indicator': 'R_NUM', 'value': 1}], self.reg), 409,
                       'values of a published campaign')

    # --- values -------------------------------------------------------------------------

    def test_values_validation_errors(self):
        _, sid = self.sub_a1()
        v0 = self.get(sid).json['version']
        audit0 = self.audit_count(sid)
        long = 'я' * 2001
        bad = [
            ({'indicator': 'NOPE', 'value': 1}, 'values[0].indicator'),
            ({'indicator': 'S_PRE', 'value': 1}, 'values[1].indicator'),  # not for schools
            ({'indicator': 'S_NUM', 'value': '5'}, 'values[2].value'),
            ({'indicator': 'S_BOOL', 'value': 1}, 'values[3].value'),
            ({'indicator': 'S_INT', 'value': 2.5}, 'values[4].value'),
            ({'indicator': 'S_PCT', 'value': 100.01}, 'values[5].value'),
            ({'indicator': 'M_NUM', 'value': -1}, 'values[6].value'),
            ({'indicator': 'R_NUM', 'value': True}, 'values[7].value'),
            ({'indicator': 'S_NUM', 'value': 1}, 'values[8].indicator'),  # duplicate of [2]
            ({'indicator': 'S_INT', 'value': 1, 'note': 'x'}, 'values[9].note'),
            ({'value': 1}, 'values[10].indicator'),
            ({'indicator': 'S_INT'}, 'values[11].value'),
            ({'indicator': 'S_INT', 'value': 1, 'comment': long}, 'values[12].comment'),
            ({'indicator': 'S_INT', 'value': 1, 'comment': ''}, 'values[13].comment'),
            ({'indicator': 'S_INT', 'value': 1, 'evidence_url': 'ftp://x/y'},
             'values[14].evidence_url'),
            ({'indicator': 'S_INT', 'value': 1, 'evidence_url': 'https://a b'},
             'values[15].evidence_url'),
            ('S_INT', 'values[16]'),
            ({'indicator': 'S_INT', 'value': [1]}, 'values[17].value'),
            ({'indicator': 5, 'value': 1}, 'values[18].indicator'),
            ({'indicator': 'S_INT', 'value': None, 'comment': 'x'}, 'values[19].comment'),
            ({'indicator': 'S_INT', 'value': 1,
              'evidence_url': 'https://e.example/' + 'a' * 2000}, 'values[20].evidence_url'),
        ]
        # shape errors (checked before the catalog is consulted) all come at once
        shape = ['values[2].value'] + [f for _, f in bad[8:]]
        r = self.put(sid, [item for item, _ in bad], self.admin)
        assert_fields(r, 400, shape, 'shape errors')
        # catalog errors (existence, kind, type, bounds), all at once, on a well-formed batch
        catalog = [item for item, _ in bad[:8]]
        catalog[2] = {'indicator': 'S_NUM', 'value': 200}
        r = self.put(sid, catalog, self.admin)
        doc = assert_fields(r, 400, [f for _, f in bad[:8] if f != 'values[2].value'],
                            'catalog errors')
        self.assertNotIn('values[2].value', rf.error_fields(r))
        self.assertNotIn('values[2].indicator', rf.error_fields(r))
        self.assertIn('nothing was written', doc['detail'])
        # one good item beside one bad item: nothing written
        r = self.put(sid, [GOOD_SELF[0], {'indicator': 'S_INT', 'value': 51}], self.head)
        assert_fields(r, 400, ['values[1].value'], 'good + out of range')
        r = self.put(sid, [GOOD_SELF[0], {'indicator': 'S_INT', 'value': '5'}], self.head)
        assert_fields(r, 400, ['values[1].value'], 'a string "5" is a type error')
        # the batch itself
        for body, field in (({'values': []}, 'values'),
                            ({'values': [GOOD_SELF[0]] * 501}, 'values'),
                            ({'values': {'S_NUM': 1}}, 'values'),
                            ({}, 'values'),
                            ({'values': GOOD_SELF, 'comment': 'x'}, 'comment')):
            assert_fields(self.put(sid, body, self.admin), 400, [field], 'body %.60r' % body)
        self.assertEqual(self.get(sid).json['version'], v0)
        self.assertEqual(self.db_values(sid), {})
        self.assertEqual(self.history_count(sid, 'values'), 0)
        self.assertEqual(self.audit_count(sid), audit0)
        # the limits themselves are fine: integral numbers for integers, bounds inclusive,
        # 2000 characters, null to remove
        ok = [{'indicator': 'S_INT', 'value': 50.0}, {'indicator': 'S_PCT', 'value': 0},
              {'indicator': 'S_NUM', 'value': 200, 'comment': 'я' * 2000,
               'evidence_url': 'http://e.example/' + 'a' * 1983},
              {'indicator': 'S_BOOL', 'value': False, 'comment': None, 'evidence_url': None}]
        r = self.put(sid, ok, self.head)
        assert_status(r, 200, 'values at their limits')
        vals = {v['indicator']: v['value'] for v in r.json['values']}
        self.assertEqual(vals, {'S_INT': 50, 'S_PCT': 0, 'S_NUM': 200, 'S_BOOL': False})
        r = self.put(sid, [{'indicator': 'S_INT', 'value': None}], self.head)
        assert_status(r, 200, 'null removes a value')
        self.assertNotIn('S_INT', {v['indicator'] for v in r.json['values']})
        assert_status(self.put(sid, [{'indicator': 'S_INT', 'value': None}], self.head), 200,
                      'removing an absent value')

    def test_odd_values_are_400_never_500(self):
        _, sid = self.sub_a1()
        for raw, field in (('{"values": [{"indicator": "S_NUM", "value": 1e-20000}]}', None),
                           ('{"values": [{"indicator": "S_NUM", "value": 1e308}]}',
                            'values[0].value'),
                           ('{"values": [{"indicator": "S_NUM", "value": 1, '
                            '"evidence_url": "https://a\u00a0b"}]}', 'values[0].evidence_url'),
                           ('{"values": [{"indicator": "S_NUM\u00e9", "value": 1}]}',
                            'values[0].indicator'),
                           ('{"values": [{"indicator": "S_NUM", "value": 1}, null]}',
                            'values[1]')):
            r = self.daemon.request('PUT', self.path(sid, '/values'), body=raw,
                                    token=self.head.token,
                                    headers={'If-Match': self.etag(sid),
                                             'Content-Type': 'application/json'})
            if field:
                assert_fields(r, 400, [field], raw)
            else:
                assert_problem(r, 400, raw)
        # -0 and tiny values are numbers like any other; Cyrillic URLs are URLs
        r = self.put(sid, [{'indicator': 'S_NUM', 'value': -0.0,
                            'evidence_url': 'https://школа.рф/отчёт 2024'.replace(' ', '_')},
                           {'indicator': 'S_PCT', 'value': 1e-9}], self.head)
        assert_status(r, 200, '-0 and 1e-9')
        self.assertEqual(self.history_count(sid, 'values'), 1)

    def test_frozen_values_and_source_rules(self):
        cid, sid = self.sub_a1()
        self.fill_self(sid)
        # who writes which source
        for user, code, who in ((self.muni, 'S_NUM', 'head'), (self.reg, 'S_NUM', 'head'),
                                (self.head, 'M_NUM', 'municipal operator'),
                                (self.reg, 'M_NUM', 'municipal operator'),
                                (self.head, 'R_NUM', 'regional operator'),
                                (self.muni, 'R_NUM', 'regional operator')):
            r = self.put(sid, [{'indicator': code, 'value': 1}], user)
            doc = assert_problem(r, 403, '%s writes %s' % (user.role, code))
            self.assertIn(code, doc['detail'])
            self.assertIn(who, doc['detail'])
        # one forbidden item in a batch: nothing written
        r = self.put(sid, [{'indicator': 'S_NUM', 'value': 1}, {'indicator': 'M_NUM', 'value': 1}],
                     self.head)
        assert_problem(r, 403, 'head batch with a municipal indicator')
        self.assertEqual(self.db_values(sid)['S_NUM'][0], '150')

        assert_status(self.move(sid, 'submitted', self.head), 200, 'submit')
        r = self.put(sid, [{'indicator': 'S_NUM', 'value': 1}], self.head)
        doc = assert_problem(r, 409, 'head edits a submitted submission')
        self.assertIn('values of a submitted submission are frozen', doc['detail'])
        assert_problem(self.put(sid, [{'indicator': 'S_NUM', 'value': 1}], self.admin), 409,
                       'admin edits a self value of a submitted submission')
        # municipal: before verification; regional_import: before approval
        assert_status(self.put(sid, [{'indicator': 'M_NUM', 'value': 3}], self.muni), 200,
                      'municipal value while submitted')
        assert_status(self.put(sid, [{'indicator': 'R_NUM', 'value': 30}], self.reg), 200,
                      'regional value while submitted')
        assert_status(self.move(sid, 'verified', self.muni), 200, 'verify')
        r = self.put(sid, [{'indicator': 'M_NUM', 'value': 4}], self.muni)
        doc = assert_problem(r, 409, 'municipal value after verification')
        self.assertIn('verified', doc['detail'])
        assert_status(self.put(sid, [{'indicator': 'R_NUM', 'value': 31}], self.reg), 200,
                      'regional value while verified')
        self.sql("UPDATE campaigns SET status = 'closed' WHERE id = %d" % cid)
        assert_status(self.put(sid, [{'indicator': 'R_NUM', 'value': 32}], self.reg), 200,
                      'regional value in a closed campaign')
        assert_status(self.move(sid, 'approved', self.reg), 200, 'approve')
        r = self.put(sid, [{'indicator': 'R_NUM', 'value': 33}], self.reg)
        doc = assert_problem(r, 409, 'regional value after approval')
        self.assertIn('approved', doc['detail'])
        self.assertEqual(self.db_values(sid)['R_NUM'][0], '32')
        self.assertEqual(self.db_values(sid)['M_NUM'], ('3', '-', '3'))

        # a closed campaign: the head's values are frozen even when returned
        cid2, sid2 = self.sub_a1()
        self.fill_self(sid2)
        assert_status(self.move(sid2, 'submitted', self.head), 200, 'submit')
        assert_status(self.move(sid2, 'returned', self.muni, comment='исправить'), 200, 'return')
        self.sql("UPDATE campaigns SET status = 'closed' WHERE id = %d" % cid2)
        doc = assert_problem(self.put(sid2, [{'indicator': 'S_NUM', 'value': 1}], self.head), 409,
                             'head edits in a closed campaign')
        self.assertIn('closed', doc['detail'])
        assert_status(self.put(sid2, [{'indicator': 'M_NUM', 'value': 1}], self.muni), 200,
                      'municipal value of a returned submission in a closed campaign')

    def test_history_content_and_unchanged_values(self):
        _, sid = self.sub_a1()
        r = self.put(sid, [{'indicator': 'S_NUM', 'value': 10, 'comment': 'первое'}], self.head)
        assert_status(r, 200, 'first value')
        tag1 = r.headers['etag']
        # the same value again: no change, no history, same ETag
        r = self.put(sid, [{'indicator': 'S_NUM', 'value': 10.0, 'comment': 'первое'}], self.head,
                     etag=tag1)
        assert_status(r, 200, 'unchanged value')
        self.assertEqual(r.headers['etag'], tag1)
        r = self.put(sid, [{'indicator': 'S_NUM', 'value': 20, 'evidence_url': 'https://e.example/1'},
                           {'indicator': 'S_BOOL', 'value': True},
                           {'indicator': 'S_INT', 'value': None}], self.head, etag=tag1)
        assert_status(r, 200, 'second write')
        self.assertNotEqual(r.headers['etag'], tag1)
        assert_status(self.put(sid, [{'indicator': 'S_BOOL', 'value': None}], self.head), 200,
                      'remove S_BOOL')
        hist = [h for h in self.history(sid, self.head) if h['action'] == 'values']
        self.assertEqual(len(hist), 3)
        for h in hist:
            self.assertEqual(h['actor_user_id'], self.head.id)
            self.assertEqual(h['actor_role'], 'head')
            self.assertIsNone(h['from'])
            self.assertIsNone(h['to'])
            self.assertRegex(h['occurred_at'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d')
        ind = {code: int(self.sql("SELECT i.id FROM indicators i JOIN submissions s ON "
                                  "s.campaign_id = i.campaign_id WHERE s.id = %d AND i.code = '%s'"
                                  % (sid, code))) for code in ('S_NUM', 'S_BOOL')}
        self.assertEqual(hist[0]['changes'], [
            {'indicator_id': ind['S_NUM'], 'code': 'S_NUM', 'old': None,
             'new': {'value': 10, 'comment': 'первое', 'evidence_url': None}}])
        self.assertEqual(hist[1]['changes'], [
            {'indicator_id': ind['S_NUM'], 'code': 'S_NUM',
             'old': {'value': 10, 'comment': 'первое', 'evidence_url': None},
             'new': {'value': 20, 'comment': None, 'evidence_url': 'https://e.example/1'}},
            {'indicator_id': ind['S_BOOL'], 'code': 'S_BOOL', 'old': None,
             'new': {'value': True, 'comment': None, 'evidence_url': None}}])
        self.assertEqual(hist[2]['changes'], [
            {'indicator_id': ind['S_BOOL'], 'code': 'S_BOOL',
             'old': {'value': True, 'comment': None, 'evidence_url': None}, 'new': None}])
        # pages by id, oldest first, cursor walks them all
        r = self.daemon.request('GET', url(self.path(sid, '/history'), limit=1),
                                token=self.muni.token)
        assert_status(r, 200, 'history page 1')
        self.assertEqual(len(r.json['items']), 1)
        self.assertIsNotNone(r.json['next'])
        ids = [h['id'] for h in self.history(sid, self.expert)]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(ids), 4)  # create + 3 values
        for q, field in (({'limit': 0}, 'limit'), ({'cursor': 'zzz'}, 'cursor'),
                         ({'sort': 'name'}, 'sort')):
            r = self.daemon.request('GET', url(self.path(sid, '/history'), **q),
                                    token=self.admin.token)
            assert_fields(r, 400, [field], 'history %r' % q)

    def test_parallel_approvals_one_wins(self):
        for attempt in range(4):
            _, sid = self.sub_a1()
            self.fill_self(sid)
            assert_status(self.move(sid, 'submitted', self.head), 200, 'submit')
            assert_status(self.move(sid, 'verified', self.muni), 200, 'verify')
            tag = self.etag(sid)
            users = [self.reg, self.reg2, self.admin]
            results = run_threads([lambda u=u: self.move(sid, 'approved', u, etag=tag)
                                   for u in users])
            statuses = sorted(r.status for r in results)
            self.assertEqual(statuses.count(200), 1, 'attempt %d: %r' % (attempt, results))
            for r in results:
                self.assertIn(r.status, (200, 409, 412), repr(r))
            self.assertEqual(self.history_count(sid, 'transition'), 3)
            self.assertEqual(int(self.sql(
                "SELECT count(*) FROM submission_history WHERE submission_id = %d "
                "AND to_status = 'approved'" % sid)), 1)
        # concurrent value writes with one ETag: one wins, the other is 412
        _, sid = self.sub_a1()
        tag = self.etag(sid)
        results = run_threads([lambda v=v: self.put(sid, [{'indicator': 'S_NUM', 'value': v}],
                                                    self.head, etag=tag) for v in (1, 2)])
        self.assertEqual(sorted(r.status for r in results), [200, 412], repr(results))
        self.assertEqual(self.history_count(sid, 'values'), 1)

    # --- scope, If-Match, lists ----------------------------------------------------------

    def test_scope_outside_is_404(self):
        w = self.w
        _, subs = self.new_campaign()
        _, subs_b = self.new_campaign(region=w.region_b)
        sid, sid_b1b, sid_a2 = subs[w.org_a1], subs[w.org_a1b], subs[w.org_a2]
        sid_b = subs_b[w.org_b1]
        cases = [(self.head_b1, sid), (self.head, sid_b1b), (self.muni_a2, sid),
                 (self.muni, sid_a2), (self.reg, sid_b), (w.user('regional_operator', 'B'), sid),
                 (self.expert, sid_b), (w.user('head', 'B'), sid)]
        for user, s in cases:
            for method, tail in (('GET', ''), ('GET', '/history')):
                r = self.daemon.request(method, self.path(s, tail), token=user.token)
                assert_problem(r, 404, '%s %s %s%s' % (user.login, method, s, tail))
            if user.role != 'expert':
                r = self.put(s, [{'indicator': 'S_NUM', 'value': 1}], user, etag='"1"')
                assert_problem(r, 404, '%s PUT values of %d' % (user.login, s))
                r = self.move(s, 'submitted', user, etag='"1"')
                assert_problem(r, 404, '%s transition of %d' % (user.login, s))
        r = self.daemon.request('GET', self.path(999999999), token=self.admin.token)
        assert_problem(r, 404, 'missing submission')
        # in scope: visible
        for user, s in ((self.head, sid), (self.muni, sid), (self.reg, sid_a2),
                        (self.expert, sid), (self.admin, sid_b)):
            assert_status(self.daemon.request('GET', self.path(s), token=user.token), 200,
                          '%s GET %d' % (user.login, s))
        # lists hold only what the caller may see
        for user in (self.head, self.muni, self.reg, self.expert, self.head_b1,
                     w.user('regional_operator', 'B')):
            items, _ = w.walk(API + '/submissions', user.token, limit=3)
            self.assertTrue(items, user.login)
            for it in items:
                if user.role == 'head':
                    self.assertEqual(it['organization_id'], user.scope['organization'])
                elif user.role == 'municipal_operator':
                    self.assertEqual(it['municipality_id'], user.scope['municipality'])
                else:
                    self.assertEqual(it['region_id'], user.scope['region'])
        assert_problem(self.daemon.request('GET', API + '/submissions', token=self.portal.token),
                       403, 'portal lists submissions')
        assert_problem(self.daemon.request('GET', self.path(sid), token=self.portal.token),
                       403, 'portal reads a submission')
        assert_problem(self.daemon.request('GET', API + '/submissions'), 401, 'anonymous')

    def test_if_match_required_and_checked(self):
        _, sid = self.sub_a1()
        for method, tail, body in (('PUT', '/values', {'values': GOOD_SELF}),
                                   ('POST', '/transitions', {'to': 'submitted'})):
            r = self.daemon.request(method, self.path(sid, tail), body=body,
                                    token=self.head.token)
            assert_problem(r, 428, '%s without If-Match' % tail)
            r = self.daemon.request(method, self.path(sid, tail), body=body,
                                    token=self.head.token, headers={'If-Match': '"99"'})
            doc = assert_problem(r, 412, '%s with a stale If-Match' % tail)
            self.assertIn(self.etag(sid), doc['detail'])
        self.assertEqual(self.db_values(sid), {})
        r = self.get(sid)
        r2 = self.daemon.request('GET', self.path(sid), token=self.admin.token,
                                 headers={'If-None-Match': r.headers['etag']})
        self.assertEqual(r2.status, 304)

    def test_list_filters(self):
        w = self.w
        cid, subs = self.new_campaign()
        sid = subs[w.org_a1]
        self.fill_self(sid)
        assert_status(self.move(sid, 'submitted', self.head), 200, 'submit')
        items, _ = w.walk(API + '/submissions', self.reg.token, campaign_id=cid)
        self.assertEqual(sorted(i['id'] for i in items), sorted(subs.values()))
        items, _ = w.walk(API + '/submissions', self.reg.token, campaign_id=cid,
                          status='submitted')
        self.assertEqual([i['id'] for i in items], [sid])
        for f, v, expect in (('organization_id', w.org_a2, [subs[w.org_a2]]),
                             ('municipality_id', w.muni_a1, [sid, subs[w.org_a1b]]),
                             ('manager_id', w.mgr_a1, [sid])):
            items, _ = w.walk(API + '/submissions', self.admin.token, campaign_id=cid, **{f: v})
            self.assertEqual(sorted(i['id'] for i in items), sorted(expect), f)
        items, _ = w.walk(API + '/submissions', self.admin.token, campaign_id=cid, sort='name',
                          limit=1)
        self.assertEqual(len(items), 3)
        items, _ = w.walk(API + '/submissions', self.admin.token, campaign_id=cid, q='саров')
        self.assertEqual(sorted(i['id'] for i in items), sorted([sid, subs[w.org_a1b]]))
        self.assertNotIn('values', items[0])
        for q, field in (({'status': 'done'}, 'status'), ({'campaign_id': 'x'}, 'campaign_id'),
                         ({'limit': 501}, 'limit')):
            r = self.daemon.request('GET', url(API + '/submissions', **q), token=self.admin.token)
            assert_fields(r, 400, [field], 'list %r' % q)

    def test_scores_follow_values_and_transitions(self):
        _, sid = self.sub_a1()
        self.assertEqual(self.score_row(sid), ['draft', '0.00', '0', '6'])
        # S_NUM 150/200 (weight 2) -> 0.75; S_BOOL true -> 1; others missing: 2.5 / 7
        r = self.put(sid, [{'indicator': 'S_NUM', 'value': 150},
                           {'indicator': 'S_BOOL', 'value': True}], self.head)
        assert_status(r, 200, 'values')
        self.assertEqual(self.score_row(sid), ['draft', '35.71', '2', '6'])
        self.assertEqual(r.json['score']['total'], 35.71)
        self.assertEqual(r.json['score']['level'], 'critical')
        self.assertAlmostEqual(r.json['score']['completeness'], 2 / 6, places=3)
        # S_PCT is 'down': 0 % scores 1; S_INT 50/50 -> 1: (1.5 + 1 + 1 + 1) / 7 ... plus M, R
        r = self.put(sid, [{'indicator': 'S_PCT', 'value': 0}, {'indicator': 'S_INT', 'value': 50}],
                     self.head)
        self.assertEqual(self.score_row(sid), ['draft', '64.29', '4', '6'])
        self.assertEqual(r.json['score']['level'], 'sufficient')
        r = self.move(sid, 'submitted', self.head)
        assert_status(r, 200, 'submit')
        self.assertEqual(self.score_row(sid)[0], 'submitted')
        self.assertEqual(r.json['score']['total'], 64.29)
        listed = self.daemon.request('GET', url(API + '/submissions', organization_id=self.w.org_a1,
                                                status='submitted'), token=self.head.token).json
        self.assertIn(64.29, [i['score']['total'] for i in listed['items'] if i['id'] == sid])


if __name__ == '__main__':
    harness.main()
