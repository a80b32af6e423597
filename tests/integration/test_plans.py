#!/usr/bin/python3
"""
test_plans.py - the lists walk an index and read about one page of rows, whatever the size of
the table, with any combination of their filters, sort=name or id, a cursor and q.

The dataset is tests/bench/gen at a small scale (85 regions, ~5 000 organizations, ~7 000
managers, 25 000 submissions, their users) plus, by SQL, a reserve candidate per manager, a
recommendation per manager, a roadmap with milestones per municipality and audit rows for
every organization; then ANALYZE.

The cluster runs with plan_cache_mode = force_generic_plan: every statement the daemon
prepares gets the generic plan, the one PostgreSQL may switch to after five executions and in
which "$n IS NULL OR col = $n" and "CASE WHEN $sort = 'name'" are no index conditions. The
lists are planned for their values all the same (db_exec_args_custom); a get statement, which
is not, shows the setting took. auto_explain logs the plan of every statement the daemon runs,
as the daemon prepared and executed it, with its actual row counts (EXPLAIN ANALYZE, JSON):
the test requests each list over HTTP and reads its plan from the server's log.
"""
import json
import os
import subprocess
import sys
import time
from urllib.parse import quote as _quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_status  # noqa: E402

API = '/api/v1'
SOURCE_ROOT = os.environ.get('EFFMON_SOURCE_ROOT',
                             os.path.dirname(os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__)))))
GEN = os.path.join(SOURCE_ROOT, 'tests', 'bench', 'gen')
SCALE = '0.05'
LIMIT = 5
# Rows a page may read from the table it walks: the limit + 1 rows it returns, times this.
FACTOR = 4
BIG = {'organizations', 'managers', 'submissions', 'users', 'audit_events', 'recommendations',
       'milestones', 'reserve_candidates'}
SCANS = {'Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Heap Scan'}

EXTRA_SQL = r"""
INSERT INTO reserve_candidates (full_name, municipality_id, region_id, target_position)
SELECT 'Резерв ' || m.full_name, m.municipality_id, m.region_id, 'Заместитель директора'
FROM managers m;
INSERT INTO recommendations (campaign_id, region_id, municipality_id, organization_id,
    addressee_manager_id, issuer_level, text, due_on, status, issued_at)
SELECT c.id, m.region_id, m.municipality_id, m.organization_id, m.id, 'regional',
    'Рекомендация ' || m.id, DATE '2027-06-01', 'issued', now()
FROM managers m
JOIN LATERAL (SELECT id FROM campaigns c WHERE c.region_id = m.region_id
              ORDER BY c.year DESC LIMIT 1) c ON true
WHERE m.organization_id IS NOT NULL;
INSERT INTO roadmaps (level, region_id, municipality_id, title, period_from, period_to)
SELECT 'municipal', mu.region_id, mu.id, 'Дорожная карта ' || mu.name, DATE '2026-01-01',
    DATE '2028-12-31' FROM municipalities mu;
INSERT INTO milestones (roadmap_id, number, title, due_on)
SELECT r.id, n::text, 'Мероприятие ' || n || ' ' || r.title, DATE '2027-01-01' + n
FROM roadmaps r, generate_series(1, 10) n;
INSERT INTO audit_events (actor_user_id, actor_role, entity, entity_id, action, after,
    request_id, region_id, municipality_id, organization_id)
SELECT (SELECT min(id) FROM users) + (o.id + k) % 3, 'admin', 'organization', o.id, 'update',
    '{}'::jsonb, 'plans-' || o.id || '-' || k, o.region_id, o.municipality_id, o.id
FROM organizations o, generate_series(1, 4) k
ORDER BY md5(o.id || '-' || k);
UPDATE organizations SET short_name = 'Лицей «Саровский ключ»'
WHERE id = (SELECT min(id) FROM organizations);
ANALYZE;
"""

AUTO_EXPLAIN = """
# test_plans.py: every statement's plan with its actual rows, generic plans by default
session_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_analyze = on
auto_explain.log_timing = off
auto_explain.log_format = json
auto_explain.log_nested_statements = on
plan_cache_mode = force_generic_plan
"""


def quote(s):
    return _quote(s, safe='')


def nodes(plan):
    yield plan
    for child in plan.get('Plans', []):
        yield from nodes(child)


def read_rows(node):
    """Rows a scan node looked at: returned plus removed, over all its loops."""
    n = node.get('Actual Rows', 0) + node.get('Rows Removed by Filter', 0) + \
        node.get('Rows Removed by Index Recheck', 0)
    return n * max(node.get('Actual Loops', 1), 1)


class PlansTest(harness.DaemonTestCase):
    threads = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.cluster
        t0 = time.monotonic()
        out = os.path.join(cls.daemon.tmp, 'ids.json')
        p = subprocess.run(['/usr/bin/python3', GEN, '--scale', SCALE, '--seed', '1',
                            '--jobs', '1', '--no-scores', '--database-url',
                            c.url_for('effmon', user='postgres'), '--out', out],
                           capture_output=True, text=True, timeout=240, cwd='/tmp')
        if p.returncode != 0:
            raise RuntimeError('gen failed (%d): %s' % (p.returncode, p.stderr[-2000:]))
        with open(out, encoding='utf-8') as f:
            cls.ids = json.load(f)
        c.psql(EXTRA_SQL, timeout=240)
        sys.stderr.write('test_plans: dataset loaded in %.1f s\n' % (time.monotonic() - t0))
        with open(os.path.join(c.dir, 'postgresql.conf'), 'a') as f:
            f.write(AUTO_EXPLAIN)
        c.psql('SELECT pg_reload_conf()', db='postgres')
        # New sessions get the settings: restart the daemon, whose session predates them.
        cls.daemon.stop()
        cls.daemon.start()
        secret = cls.daemon.secret
        users = cls.ids['users']
        cls.tokens = {}
        for role in ('admin', 'regional_operator', 'municipal_operator'):
            cl = dict(users[role]['claims'])
            sub, r = cl.pop('sub'), cl.pop('role')
            cls.tokens[role] = harness.make_token(secret, sub, r, scope=cl, ttl=3600)
        cls.region = cls.ids['region']['id']
        cls.muni = users['municipal_operator']['municipality_id']
        cls.campaign = cls.ids['region']['published_campaign_ids'][0]

    def sql(self, q):
        return self.cluster.psql(q)

    def log_size(self):
        return os.path.getsize(self.cluster.logfile)

    def plans_since(self, offset):
        with open(self.cluster.logfile, 'rb') as f:
            f.seek(offset)
            text = f.read().decode('utf-8', 'replace')
        dec = json.JSONDecoder()
        plans = []
        pos = 0
        while True:
            i = text.find('plan:', pos)
            if i < 0:
                return plans
            j = text.find('{', i)
            if j < 0:
                return plans
            try:
                doc, end = dec.raw_decode(text, j)
            except ValueError:
                pos = j + 1
                continue
            plans.append(doc)
            pos = end

    def get(self, path, role='admin'):
        r = harness.request(self.daemon.port, 'GET', path, token=self.tokens[role])
        assert_status(r, 200, path)
        return r.json

    def list_plan(self, path, marker, role='admin'):
        """GETs path and returns (answer, plan) of the statement whose text has marker."""
        offset = self.log_size()
        body = self.get(path, role)
        found = []

        def logged():
            found[:] = [p for p in self.plans_since(offset)
                        if marker in p.get('Query Text', '') and 'LIMIT $' in p['Query Text']]
            return bool(found)
        harness.wait_for(logged, 10.0, what='the plan of %s in the server log' % path)
        self.assertEqual(len(found), 1, 'one list statement per request: %s' % path)
        return body, found[0]['Plan']

    def check(self, path, marker, table, index, role='admin', bound=None, generic=False):
        """The list walks index on table, reads at most bound rows of it, and no big table
        is read sequentially; the plan is the one for the values (no $n left in it), or,
        with generic, may be the generic plan."""
        body, plan = self.list_plan(path, marker, role)
        scans = [n for n in nodes(plan) if n['Node Type'] in SCANS]
        shape = ', '.join('%s %s %s (%d read)' % (n['Node Type'], n.get('Relation Name', ''),
                                                  n.get('Index Name', ''), read_rows(n))
                          for n in scans)
        for n in scans:
            self.assertFalse(n['Node Type'] == 'Seq Scan' and n.get('Relation Name') in BIG,
                             '%s: a sequential scan of %s: %s' % (path, n['Relation Name'],
                                                                   shape))
        on_table = [n for n in scans if n.get('Relation Name') == table]
        self.assertTrue(on_table, '%s: %s is not scanned: %s' % (path, table, shape))
        walked = [c.get('Index Name') for n in on_table for c in nodes(n) if c.get('Index Name')]
        if index:
            self.assertIn(index, walked, '%s: %s does not walk %s: %s' % (path, table, index,
                                                                          shape))
        else:
            self.assertTrue(walked, '%s: no index on %s: %s' % (path, table, shape))
        limit = bound if bound is not None else (LIMIT + 1) * FACTOR
        read = sum(read_rows(n) for n in on_table)
        self.assertLessEqual(read, limit, '%s: read %d rows of %s: %s' % (path, read, table,
                                                                          shape))
        conds = ' '.join(str(n.get('Index Cond', '')) + str(n.get('Filter', ''))
                         for n in nodes(plan))
        if not generic:
            self.assertNotIn('$', conds, '%s: a generic plan (parameters left): %s'
                             % (path, conds))
        return body

    def pages(self, path, marker, table, index, role='admin', bound=None, key='id',
              generic=False):
        """The first page, then the page after its cursor, both served by index."""
        first = self.check(path, marker, table, index, role, bound, generic)
        self.assertEqual(len(first['items']), LIMIT, path)
        self.assertIsNotNone(first['next'], path)
        second = self.check(path + '&cursor=' + first['next'], marker, table, index, role, bound,
                            generic)
        self.assertTrue(second['items'], path + ' page 2')
        self.assertFalse({i[key] for i in first['items']} & {i[key] for i in second['items']},
                         path + ': the pages overlap')
        return first, second

    # --- the setting took: a statement not planned for its values keeps the generic plan

    def test_get_keeps_the_generic_plan(self):
        org = self.ids['organization_ids'][0]
        offset = self.log_size()
        self.get('%s/organizations/%d' % (API, org))
        found = []

        def logged():
            found[:] = [p for p in self.plans_since(offset)
                        if 'FROM organizations o WHERE o.id = $7' in p.get('Query Text', '')]
            return bool(found)
        harness.wait_for(logged, 10.0, what='the plan of organizations_get')
        conds = ' '.join(str(n.get('Index Cond', '')) for n in nodes(found[0]['Plan']))
        self.assertIn('$7', conds, 'the cluster plans generically: %s' % conds)

    # --- organizations

    ORG = 'FROM organizations o WHERE'

    def test_organizations(self):
        r, m, c = self.region, self.muni, self.ORG
        self.pages('%s/organizations?region_id=%d&kind=school&status=active&sort=name&limit=%d'
                   % (API, r, LIMIT), c, 'organizations', 'organizations_region_kind_name_idx')
        self.pages('%s/organizations?region_id=%d&sort=name&limit=%d' % (API, r, LIMIT), c,
                   'organizations', 'organizations_region_name_idx')
        self.pages('%s/organizations?region_id=%d&sort=id&limit=%d' % (API, r, LIMIT), c,
                   'organizations', 'organizations_region_idx')
        self.pages('%s/organizations?municipality_id=%d&sort=name&limit=%d' % (API, m, LIMIT),
                   c, 'organizations', 'organizations_municipality_name_idx')
        self.pages('%s/organizations?sort=name&limit=%d' % (API, LIMIT), c, 'organizations',
                   'organizations_name_idx')
        self.pages('%s/organizations?limit=%d' % (API, LIMIT), c, 'organizations',
                   'organizations_pkey')
        # The caller's scope alone narrows the walk.
        self.pages('%s/organizations?sort=name&limit=%d' % (API, LIMIT), c, 'organizations',
                   'organizations_region_name_idx', role='regional_operator')
        self.pages('%s/organizations?sort=name&limit=%d' % (API, LIMIT), c, 'organizations',
                   'organizations_municipality_name_idx', role='municipal_operator')
        self.pages('%s/organizations?status=active&limit=%d' % (API, LIMIT), c,
                   'organizations', 'organizations_region_idx', role='regional_operator')

    def test_organizations_search(self):
        # q is a substring anywhere (LIKE '%q%'): no btree order serves it. A rare q is
        # found by the trigram index of migration 0002, which reads its matching rows.
        name = 'Саровский'
        matches = int(self.sql("SELECT count(*) FROM organizations "
                               "WHERE lower(short_name) LIKE '%саровский%'"))
        self.assertEqual(matches, 1)
        self.assertGreaterEqual(matches, 1)
        body = self.check('%s/organizations?q=%s&sort=name&limit=%d'
                          % (API, quote(name), LIMIT), self.ORG, 'organizations',
                          'organizations_name_trgm', bound=(matches + LIMIT + 1) * FACTOR)
        self.assertEqual(['Лицей «Саровский ключ»'], [i['short_name'] for i in body['items']])
        # A common q: either way by an index, never a scan of the table; what it reads is
        # bounded by the rows in the caller's scope, not by the page.
        in_region = int(self.sql('SELECT count(*) FROM organizations WHERE region_id = %d'
                                 % self.region))
        for role in ('regional_operator', 'municipal_operator'):
            self.check('%s/organizations?q=%s&sort=name&limit=%d' % (API, quote('школ'), LIMIT),
                       self.ORG, 'organizations', '', role=role, bound=in_region)

    # --- managers

    MGR = 'FROM managers m WHERE'

    def test_managers(self):
        r, m, c = self.region, self.muni, self.MGR
        self.pages('%s/managers?region_id=%d&sort=name&limit=%d' % (API, r, LIMIT), c,
                   'managers', 'managers_region_name_idx')
        self.pages('%s/managers?municipality_id=%d&sort=id&limit=%d' % (API, m, LIMIT), c,
                   'managers', 'managers_municipality_idx')
        self.pages('%s/managers?status=active&sort=name&limit=%d' % (API, LIMIT), c,
                   'managers', 'managers_name_idx')
        self.pages('%s/managers?sort=name&limit=%d' % (API, LIMIT), c, 'managers',
                   'managers_region_name_idx', role='regional_operator')
        org = int(self.sql('SELECT organization_id FROM managers WHERE organization_id IS NOT '
                           'NULL ORDER BY id LIMIT 1'))
        self.check('%s/managers?organization_id=%d&sort=name&limit=%d' % (API, org, LIMIT), c,
                   'managers', 'managers_organization_idx')

    # --- submissions

    SUB = 'FROM submissions s JOIN organizations o'

    def test_submissions(self):
        r, m, camp, c = self.region, self.muni, self.campaign, self.SUB
        self.pages('%s/submissions?campaign_id=%d&limit=%d' % (API, camp, LIMIT), c,
                   'submissions', 'submissions_campaign_id_idx')
        self.pages('%s/submissions?region_id=%d&limit=%d' % (API, r, LIMIT), c,
                   'submissions', 'submissions_region_idx')
        self.pages('%s/submissions?limit=%d' % (API, LIMIT), c, 'submissions',
                   'submissions_region_idx', role='regional_operator')
        # A campaign is in one region: a regional operator's page of it walks the campaign.
        self.pages('%s/submissions?campaign_id=%d&status=approved&limit=%d' % (API, camp, LIMIT),
                   c, 'submissions', 'submissions_campaign_id_idx', role='regional_operator',
                   bound=(LIMIT + 1) * FACTOR * 2)
        self.pages('%s/submissions?municipality_id=%d&status=approved&limit=%d'
                   % (API, m, LIMIT), c, 'submissions', 'submissions_municipality_idx',
                   bound=(LIMIT + 1) * FACTOR * 2)
        # sort=name orders by the organization's name, a column of another table: the page
        # reads the submissions of its scope (here one municipality's of one campaign).
        in_scope = int(self.sql('SELECT count(*) FROM submissions WHERE municipality_id = %d '
                                'AND campaign_id = %d' % (m, camp)))
        self.check('%s/submissions?campaign_id=%d&sort=name&limit=%d' % (API, camp, LIMIT), c,
                   'submissions', '', role='municipal_operator', bound=in_scope)

    # --- users

    USR = 'FROM users u LEFT JOIN municipalities um'

    def test_users(self):
        self.pages('%s/users?sort=name&limit=%d' % (API, LIMIT), self.USR, 'users',
                   'users_login_name_idx')
        self.pages('%s/users?limit=%d' % (API, LIMIT), self.USR, 'users', 'users_pkey')
        self.pages('%s/users?active=true&sort=name&limit=%d' % (API, LIMIT), self.USR, 'users',
                   'users_login_name_idx')

    # --- audit (newest first)

    AUD = 'FROM audit_events a WHERE'

    def test_audit(self):
        self.pages('%s/audit?limit=%d' % (API, LIMIT), self.AUD, 'audit_events',
                   'audit_events_pkey')
        # A regional operator's page: the planner walks the ids down and skips the other
        # regions' rows (its estimate, and what it reads: about a page per region), or
        # walks (region_id, id); either way the read does not grow with the trail.
        regions = int(self.sql('SELECT count(*) FROM regions'))
        self.pages('%s/audit?limit=%d' % (API, LIMIT), self.AUD, 'audit_events', '',
                   role='regional_operator', bound=(LIMIT + 1) * FACTOR * regions)
        actor = int(self.sql('SELECT min(id) FROM users'))
        # A third of the trail is this actor's: the ids walked down find a page at once.
        share = int(self.sql('SELECT ceil(count(*)::numeric / count(*) FILTER '
                             '(WHERE actor_user_id = %d)) FROM audit_events' % actor))
        self.pages('%s/audit?actor_user_id=%d&limit=%d' % (API, actor, LIMIT), self.AUD,
                   'audit_events', '', bound=(LIMIT + 1) * FACTOR * share)
        rare = int(self.sql('SELECT max(id) FROM users'))
        self.sql("INSERT INTO audit_events (actor_user_id, actor_role, entity, entity_id, "
                 "action, region_id) SELECT %d, 'admin', 'region', id, 'update', id "
                 "FROM regions ORDER BY id LIMIT 3" % rare)
        self.check('%s/audit?actor_user_id=%d&limit=%d' % (API, rare, LIMIT), self.AUD,
                   'audit_events', 'audit_events_actor_idx')
        org = int(self.sql("SELECT entity_id FROM audit_events WHERE entity = 'organization' "
                           "ORDER BY id LIMIT 1"))
        self.check('%s/audit?entity=organization&entity_id=%d&limit=%d' % (API, org, LIMIT),
                   self.AUD, 'audit_events', 'audit_events_entity_idx')

    # --- recommendations (by id)

    REC = 'FROM recommendations r WHERE'

    def test_recommendations(self):
        r, m = self.region, self.muni
        camp = int(self.sql('SELECT campaign_id FROM recommendations WHERE region_id = %d '
                            'LIMIT 1' % r))
        self.pages('%s/recommendations?limit=%d' % (API, LIMIT), self.REC, 'recommendations',
                   'recommendations_pkey')
        self.pages('%s/recommendations?limit=%d' % (API, LIMIT), self.REC, 'recommendations',
                   'recommendations_region_idx', role='regional_operator')
        self.pages('%s/recommendations?municipality_id=%d&limit=%d' % (API, m, LIMIT),
                   self.REC, 'recommendations', 'recommendations_municipality_idx')
        self.pages('%s/recommendations?campaign_id=%d&status=issued&limit=%d'
                   % (API, camp, LIMIT), self.REC, 'recommendations',
                   'recommendations_campaign_id_idx')
        self.pages('%s/recommendations?campaign_id=%d&limit=%d' % (API, camp, LIMIT), self.REC,
                   'recommendations', 'recommendations_campaign_id_idx',
                   role='regional_operator')

    # --- milestones

    MS = 'FROM milestones m JOIN roadmaps r'

    def test_milestones(self):
        rm = int(self.sql('SELECT id FROM roadmaps WHERE region_id = %d ORDER BY id LIMIT 1'
                          % self.region))
        self.pages('%s/milestones?roadmap_id=%d&limit=%d' % (API, rm, LIMIT), self.MS,
                   'milestones', 'milestones_roadmap_idx')
        self.pages('%s/milestones?roadmap_id=%d&sort=name&limit=%d' % (API, rm, LIMIT),
                   self.MS, 'milestones', 'milestones_roadmap_idx')
        self.pages('%s/milestones?limit=%d' % (API, LIMIT), self.MS, 'milestones',
                   'milestones_pkey')
        self.pages('%s/milestones?sort=name&limit=%d' % (API, LIMIT), self.MS, 'milestones',
                   'milestones_name_idx')

    def score_the_region(self):
        """gen ran without scores: the region's campaigns are scored once, for the tests
        that read scores and their rollups."""
        if self.sql('SELECT count(*) FROM score_ranks') == '0':
            self.sql('SELECT count(em_rescore_campaign(id)) FROM campaigns WHERE region_id = %d; '
                     'ANALYZE submission_scores; ANALYZE score_ranks; ANALYZE score_buckets; '
                     'ANALYZE aggregate_summaries' % self.region)

    # --- scores

    BY_RANK = 'WITH ranked AS (SELECT sc.*, l.rank::numeric AS sort_key'
    BY_TOTAL = 'WITH ranked AS (SELECT sc.*, -l.value AS sort_key'
    SELECTED = 'WITH rows AS (SELECT r.*, CASE $12'

    def test_scores(self):
        """A page of scores walks the kept ranks (score_ranks) and reads about a page of
        score rows, with no window over the campaign; a municipality's page reads that
        municipality's rows."""
        camp = self.campaign
        self.score_the_region()
        counted = int(self.sql("SELECT count(*) FROM submission_scores WHERE campaign_id = %d "
                               "AND status = 'approved'" % camp))
        self.assertGreater(counted, 25 * LIMIT, 'a campaign much larger than a page')
        path = '%s/campaigns/%d/scores?limit=%d' % (API, camp, LIMIT)
        parts = {sort: int(self.sql("SELECT count(DISTINCT (kind, settlement, size_band)) "
                                    "FROM score_ranks WHERE campaign_id = %d AND scope = '%s'"
                                    % (camp, scope)))
                 for sort, scope in (('rank', 'r'), ('total', 'r'), ('rank_cluster', 'c'))}
        self.assertLess(parts['rank_cluster'], 30)
        for sort, marker, walk in (('rank', self.BY_RANK, 'score_ranks_rank_idx'),
                                   ('rank_cluster', self.BY_RANK, 'score_ranks_rank_idx'),
                                   ('total', self.BY_TOTAL, 'score_ranks_value_idx')):
            for extra in ('', '&include=unapproved', '&kind=school', '&settlement=rural'):
                for role in ('admin', 'regional_operator'):
                    q = path + '&sort=' + sort + extra
                    # A rank's ties across the partitions walked (kinds, or clusters) are
                    # read together, to order them by id: a page reads about limit rows
                    # and one rank's partitions, whatever the size of the campaign.
                    bound = (LIMIT + 1) * FACTOR + parts[sort]
                    # The walks run with the plan PostgreSQL keeps, here the generic one
                    # (the cluster forces it): their conditions are index conditions there.
                    # With a kind, planned for the values, to walk that kind's ranks.
                    by_kind = 'kind' in extra
                    self.pages(q, marker, 'submission_scores',
                               'submission_scores_campaign_rank_idx', role=role,
                               key='submission_id', bound=bound, generic=not by_kind)
                    self.pages(q, marker, 'score_ranks',
                               {'score_ranks_rank_idx': 'score_ranks_kind_rank_idx',
                                'score_ranks_value_idx': 'score_ranks_pkey'}[walk]
                               if by_kind else walk, role=role, key='submission_id',
                               bound=bound, generic=not by_kind)
                    self.assertNotIn('WindowAgg', json.dumps(self.list_plan(q, marker,
                                                                            role)[1]))
        in_muni = int(self.sql("SELECT count(*) FROM submission_scores WHERE campaign_id = %d "
                               "AND municipality_id = %d" % (camp, self.muni)))
        for sort in ('rank', 'total', 'id'):
            self.check('%s&sort=%s' % (path, sort), self.SELECTED, 'submission_scores',
                       'submission_scores_municipality_idx', role='municipal_operator',
                       bound=in_muni + (LIMIT + 1) * FACTOR)

    # --- aggregates

    AGG = 'FROM camp, aggregate_summaries a'

    def aggregates_plan(self, groups, role):
        """GETs the aggregates of the campaign and returns the plan of em_aggregates' query,
        logged as a nested statement."""
        offset = self.log_size()
        self.get('%s/aggregates?campaign=%d&group_by=%s' % (API, self.campaign, groups), role)
        found = []

        def logged():
            found[:] = [p for p in self.plans_since(offset)
                        if self.AGG in p.get('Query Text', '')]
            return bool(found)
        harness.wait_for(logged, 10.0, what='the plan of em_aggregates (%s)' % groups)
        self.assertEqual(len(found), 1, 'one em_aggregates query per request (%s)' % groups)
        return found[0]['Plan']

    def scanned(self, plan, table):
        """The scans of table that ran (a branch the parameters rule out never starts)."""
        return [n for n in nodes(plan) if n['Node Type'] in SCANS
                and n.get('Relation Name') == table and n.get('Actual Loops', 1) > 0]

    def test_aggregates(self):
        """By municipality, the aggregates read the kept summaries of the campaign and the
        one before it (a row per municipality and set) and no histogram entry; another
        grouping reads the campaigns' histogram entries of its set by the primary key.
        Neither reads a score row or scans a table."""
        self.score_the_region()
        camp = self.campaign
        munis = int(self.sql('SELECT count(*) FROM municipalities WHERE region_id = %d'
                             % self.region))
        for groups, role, per_muni in (('municipality', 'admin', 1),
                                       ('municipality', 'regional_operator', 1),
                                       ('municipality,direction', 'regional_operator', 12)):
            plan = self.aggregates_plan(groups, role)
            summaries = self.scanned(plan, 'aggregate_summaries')
            self.assertTrue(summaries, groups)
            for n in summaries:
                self.assertEqual(n['Node Type'], 'Index Scan', groups)
                self.assertEqual(n['Index Name'], 'aggregate_summaries_pkey', groups)
            # Two campaigns (this and the previous one), a row per municipality and direction.
            self.assertLessEqual(sum(read_rows(n) for n in summaries), 2 * munis * per_muni,
                                 groups)
            self.assertEqual(sum(read_rows(n) for n in self.scanned(plan, 'score_buckets')),
                             0, '%s: no histogram entry is read' % groups)
            for table in ('submission_scores', 'submissions', 'submission_values'):
                self.assertFalse(self.scanned(plan, table), '%s reads %s' % (groups, table))
        buckets = int(self.sql('SELECT count(*) FROM score_buckets WHERE campaign_id = %d '
                               'AND direction_id = 0 AND approved' % camp))
        self.assertGreater(buckets, 100)
        for groups in ('kind', 'level'):
            plan = self.aggregates_plan(groups, 'regional_operator')
            entries = self.scanned(plan, 'score_buckets')
            self.assertTrue(entries, groups)
            for n in entries:
                self.assertNotEqual(n['Node Type'], 'Seq Scan', groups)
                self.assertIn('score_buckets_pkey', [c.get('Index Name') for c in nodes(n)],
                              groups)
            # The approved totals of this campaign and of the previous one, at most.
            previous = int(self.sql(
                "SELECT count(*) FROM score_buckets b JOIN campaigns c ON c.id = b.campaign_id "
                "WHERE b.direction_id = 0 AND b.approved AND c.region_id = %d "
                "AND c.id <> %d" % (self.region, camp)))
            self.assertLessEqual(sum(read_rows(n) for n in entries), buckets + previous,
                                 groups)
            self.assertEqual(sum(read_rows(n) for n in self.scanned(plan,
                                                                    'aggregate_summaries')),
                             0, groups)
            for table in ('submission_scores', 'submissions', 'submission_values'):
                self.assertFalse(self.scanned(plan, table), '%s reads %s' % (groups, table))

    # --- reserve

    RES = 'FROM reserve_candidates c WHERE'

    def test_reserve(self):
        r, m = self.region, self.muni
        self.pages('%s/reserve?region_id=%d&sort=name&limit=%d' % (API, r, LIMIT), self.RES,
                   'reserve_candidates', 'reserve_region_name_idx')
        self.pages('%s/reserve?municipality_id=%d&limit=%d' % (API, m, LIMIT), self.RES,
                   'reserve_candidates', 'reserve_municipality_idx')
        self.pages('%s/reserve?sort=name&limit=%d' % (API, LIMIT), self.RES,
                   'reserve_candidates', 'reserve_municipality_name_idx',
                   role='municipal_operator')
        self.pages('%s/reserve?status=nominated&sort=name&limit=%d' % (API, LIMIT), self.RES,
                   'reserve_candidates', 'reserve_region_name_idx', role='regional_operator')


if __name__ == '__main__':
    harness.main()
