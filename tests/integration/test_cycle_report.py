#!/usr/bin/python3
"""
test_cycle_report.py - GET /campaigns/{id}/cycle-report against an independent
recomputation: the scored world of test_scores.py (a previous and a current campaign of
region A, random catalogs and submissions) plus, seeded by SQL, goals, indicator methods,
imports, returns, planted outliers and values changed at verification, recommendations of
both campaigns, roadmaps with milestones and participants, and decisions (one revoked).
Every figure of the nine steps is computed here in Python and compared, region-wide and
for municipalities; scope (404) and roles (403); CSV parsed back; HTML escaping of hostile
names; the HTML page as an official Russian document (territory and campaign in the title,
Russian dates, numbers and percentages, a signature block, A4 print rules with a page per
step); and the page rendered by headless Chromium into a PNG that is checked (size, not
blank) and kept in <build>/meson-logs/cycle-report.png.

Stdlib only; run with /usr/bin/python3.
"""
import csv
import io
import re
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from decimal import Decimal as D
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import cluster_expect  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
from test_scores import (API, DIRECTIONS, LEVELS, ScoresWorld, quantile, r2,  # noqa: E402
                         sql_lit, url)
from test_calibration import DEFAULT_RULE, calibration_of, compared_values  # noqa: E402

DATA_KINDS = ('management', 'contingent', 'exam_results', 'objectivity_marker', 'vpr_raw',
              'staff', 'other')

CHROMIUM = '/usr/bin/chromium'
SHOT_W, SHOT_H = 1240, 1754
HOSTILE_TITLE = 'Мониторинг 2024 <script>alert("t")</script> & Co'
HOSTILE_INDICATOR = "<script>alert('i')</script> Доля & \"кавычки\""
HOSTILE_METHOD = 'Отношение a < b && c > d'
GOALS = ['Повысить качество <b>управления</b> & подготовки',
         'Сформировать кадровый резерв']
HEADINGS = ['Цели', 'Показатели', 'Методы сбора информации', 'Мониторинг',
            'Анализ результатов', 'Ранние предупреждения', 'Адресные рекомендации',
            'Меры и мероприятия',
            'Управленческие решения', 'Анализ эффективности принятых мер']
MONTHS_GENITIVE = ('января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа',
                   'сентября', 'октября', 'ноября', 'декабря')


def ru_date(d):
    return '%d %s %d\u00a0г.' % (d.day, MONTHS_GENITIVE[d.month - 1], d.year)


def ru_num(x, places):
    """Half away from zero, decimal comma, U+202F between thousands, U+2212 minus."""
    q = D(x).quantize(D(1).scaleb(-places), rounding='ROUND_HALF_UP')
    sign = '\u2212' if q < 0 else ''
    whole, _, frac = ('%s' % abs(q)).partition('.')
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sign + '\u202f'.join(groups) + (',' + frac if places else '')


def html_escape(s):
    return (s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
            .replace('"', '&quot;').replace("'", '&#39;'))


DECISION_TYPES = ('bonus', 'training_referral', 'reserve_inclusion', 'commendation', 'warning',
                  'attestation_referral', 'contract_extension', 'contract_termination_proposal')


class CycleWorld(ScoresWorld):
    """ScoresWorld plus the management cycle, every seeded fact kept for the recomputation."""

    def __init__(self, daemon, cluster):
        super().__init__(daemon, cluster, seed=11)
        self.today = self.sql('SELECT current_date')
        cur, prev = self.cur, self.prev
        self.sql("UPDATE campaigns SET title = %s, goals = %s::jsonb WHERE id = %d"
                 % (sql_lit(HOSTILE_TITLE), sql_lit(json_text(GOALS)), cur))
        self.sql("UPDATE municipalities SET name = 'Арамиль <i>&amp;</i>' WHERE id = %d"
                 % self.muni_a1)
        self.sql("UPDATE indicators SET method = 'Методика ' || code WHERE campaign_id = %d"
                 % cur)
        self.hostile = self.catalog[cur][2]
        self.sql("UPDATE indicators SET name = %s, method = %s WHERE id = %d"
                 % (sql_lit(HOSTILE_INDICATOR), sql_lit(HOSTILE_METHOD), self.hostile['id']))
        for ind in self.catalog[cur]:
            ind['name'] = 'Показатель ' + ind['code']
            ind['method'] = 'Методика ' + ind['code']
        self.hostile['name'], self.hostile['method'] = HOSTILE_INDICATOR, HOSTILE_METHOD
        # What data the indicators use: a raw ВПР one (the lint's error) among them.
        for ind, kind in zip(self.catalog[cur], DATA_KINDS * 3):
            self.sql("UPDATE indicators SET data_kind = '%s' WHERE id = %d" % (kind, ind['id']))
            ind['data_kind'] = kind
        self.imports = [(40, 35), (12, 9)]
        for rows, written in self.imports:
            self.sql("INSERT INTO imports (campaign_id, region_id, format, rows, values_written) "
                     "VALUES (%d, %d, 'csv', %d, %d)" % (cur, self.region_a, rows, written))
        self.plant_outliers()
        self.plant_changes_and_returns()
        self.sql('SELECT em_rescore_campaign(%d)' % cur)
        self.seed_recommendations()
        self.seed_roadmaps()
        self.seed_decisions()

    # --- seeds

    def subs_of(self, camp):
        return self.load(camp)

    def plant_outliers(self):
        """One numeric indicator: every counted school value equal but one far away, so that
        that one has |z| = sqrt(n - 1) > 3."""
        subs = self.subs_of(self.cur)
        ind = next(i for i in self.catalog[self.cur] if i['type'] in ('number', 'percent')
                   and i['weights'].get('school', 0) > 0)
        counted = sorted(s['id'] for s in subs.values() if s['kind'] == 'school'
                         and s['status'] in ('submitted', 'verified', 'approved'))
        assert len(counted) >= 11, 'too few school submissions for an outlier: %d' % len(counted)
        rows = ', '.join('(%d, %d, %s)' % (sid, ind['id'], ind['min'] if k else ind['max'])
                         for k, sid in enumerate(counted))
        self.sql("INSERT INTO submission_values (submission_id, indicator_id, value) VALUES %s "
                 "ON CONFLICT (submission_id, indicator_id) DO UPDATE SET value = EXCLUDED.value"
                 % rows)

    def plant_changes_and_returns(self):
        subs = self.subs_of(self.cur)
        self_ids = {i['id'] for i in self.catalog[self.cur] if i['source'] == 'self'}
        other_ids = {i['id'] for i in self.catalog[self.cur] if i['source'] != 'self'}
        changed = 0
        for s in sorted(subs.values(), key=lambda s: s['id']):
            for iid, v in sorted(s['values'].items()):
                changed += 1
                if changed % 7 == 0 and iid in self_ids:
                    self.sql("UPDATE submission_values SET submitted_value = %s, self_value = "
                             "%s, verified_value = %s WHERE submission_id = %d AND "
                             "indicator_id = %d" % (v + 1, v + 1, v, s['id'], iid))
                elif changed % 11 == 0:
                    # Equal (not a change), or not a self indicator: not counted.
                    sv = v + 1 if iid in other_ids else v
                    self.sql("UPDATE submission_values SET submitted_value = %s, self_value = "
                             "%s, verified_value = %s WHERE submission_id = %d AND "
                             "indicator_id = %d" % (sv, sv, v, s['id'], iid))
        approved = sorted(s['id'] for s in subs.values() if s['status'] == 'approved')
        self.sql("UPDATE submissions SET returned_at = now() - interval '3 days' WHERE "
                 "campaign_id = %d AND (status = 'returned' OR id IN (%d, %d))"
                 % (self.cur, approved[0], approved[-1]))

    def managers_in(self, muni):
        return sorted(o['manager'] for o in self.orgs.values() if o['muni'] == muni)

    def seed_recommendations(self):
        a1, a2 = self.managers_in(self.muni_a1), self.managers_in(self.muni_a2)
        cur, prev = self.cur, self.prev
        past, future = "current_date - 5", "current_date + 30"
        self.recs = []
        plan = [  # campaign, manager or None (to the municipality A1), status, due
            (cur, a1[0], 'accepted', past), (cur, a1[1], 'reported', past),
            (cur, a2[0], 'acknowledged', future), (cur, a2[1], 'issued', past),
            (cur, a1[2], 'draft', past), (cur, a1[3], 'withdrawn', past),
            (cur, None, 'issued', future), (cur, a1[0], 'issued', future),
            (cur, a2[2], 'accepted', future),
            (prev, a2[3], 'accepted', past), (prev, a1[4], 'reported', past),
        ]
        for camp, mgr, status, due in plan:
            muni = self.muni_a1 if mgr is None else self.mgr_muni(mgr)
            org = 'NULL' if mgr is None else str(self.mgr_org(mgr))
            self.sql(
                "INSERT INTO recommendations (campaign_id, region_id, municipality_id, "
                "organization_id, addressee_manager_id, addressee_municipality_id, issuer_level, "
                "text, due_on, status, report) VALUES (%d, %d, %d, %s, %s, %s, 'regional', "
                "'Рекомендация', %s, '%s', %s)"
                % (camp, self.region_a, muni, org, sql_lit(mgr),
                   sql_lit(self.muni_a1 if mgr is None else None), due, status,
                   "'Отчёт'" if status in ('reported', 'accepted') else 'NULL'))
            self.recs.append({'campaign': camp, 'manager': mgr, 'muni': muni, 'status': status,
                              'overdue': due == past})
        # Region B: not counted anywhere in A.
        b_mgr = self.managers_in(self.muni_b1)[0]
        self.sql("INSERT INTO recommendations (campaign_id, region_id, municipality_id, "
                 "organization_id, addressee_manager_id, issuer_level, text, due_on, status, "
                 "report) VALUES (%d, %d, %d, %d, %d, 'regional', 'B', current_date, 'accepted', "
                 "'r')" % (self.camp_b, self.region_b, self.muni_b1, self.mgr_org(b_mgr), b_mgr))

    def mgr_muni(self, mgr):
        return next(o['muni'] for o in self.orgs.values() if o['manager'] == mgr)

    def mgr_org(self, mgr):
        return next(o['id'] for o in self.orgs.values() if o['manager'] == mgr)

    def roadmap(self, level, region, muni, org, start, end):
        rid = int(self.sql(
            "INSERT INTO roadmaps (level, region_id, municipality_id, organization_id, title, "
            "period_from, period_to) VALUES ('%s', %d, %s, %s, 'Дорожная карта', '%s', '%s') "
            "RETURNING id" % (level, region, sql_lit(muni), sql_lit(org), start, end)))
        self.roadmaps.append({'id': rid, 'level': level, 'region': region, 'muni': muni,
                              'from': start, 'to': end})
        return self.roadmaps[-1]

    def milestone(self, rm, status, due, recurrence='once', participants=()):
        n = len([m for m in self.milestones if m['roadmap'] is rm]) + 1
        mid = int(self.sql(
            "INSERT INTO milestones (roadmap_id, number, title, due_on, recurrence, status) "
            "VALUES (%d, '%d', 'Мероприятие', %s, '%s', '%s') RETURNING id"
            % (rm['id'], n, sql_lit(due), recurrence, status)))
        for mgr in participants:
            self.sql("INSERT INTO milestone_participants (milestone_id, manager_id) VALUES "
                     "(%d, %d)" % (mid, mgr))
        self.milestones.append({'id': mid, 'roadmap': rm, 'status': status, 'due': due,
                                'recurrence': recurrence, 'participants': list(participants)})

    def seed_roadmaps(self):
        import datetime
        today = datetime.date.fromisoformat(self.today)
        past = (today - datetime.timedelta(days=10)).isoformat()
        future = (today + datetime.timedelta(days=30)).isoformat()
        a1, a2 = self.managers_in(self.muni_a1), self.managers_in(self.muni_a2)
        a3 = self.managers_in(self.muni_a3)
        self.roadmaps, self.milestones = [], []
        reg = self.roadmap('regional', self.region_a, None, None, '2023-01-01', '2024-12-31')
        self.milestone(reg, 'planned', past)
        self.milestone(reg, 'in_progress', future, participants=(a1[5], a2[4]))
        self.milestone(reg, 'done', past, participants=(a3[0],))
        self.milestone(reg, 'cancelled', past, participants=(a1[6],))
        self.milestone(reg, 'planned', None, 'annual')
        mun = self.roadmap('municipal', self.region_a, self.muni_a1, None, '2024-01-01',
                           '2026-12-31')
        self.milestone(mun, 'planned', past, participants=(a1[0],))
        self.milestone(mun, 'done', '2024-05-31')
        org = self.roadmap('organization', self.region_a, self.muni_a2,
                           self.mgr_org(a2[5]), '2024-06-01', '2025-05-31')
        self.milestone(org, 'in_progress', None, 'continuous', participants=(a2[5],))
        old = self.roadmap('municipal', self.region_a, self.muni_a1, None, '2020-01-01',
                           '2021-12-31')
        self.milestone(old, 'planned', '2021-06-30', participants=(a1[7],))
        b = self.roadmap('regional', self.region_b, None, None, '2024-01-01', '2024-12-31')
        self.milestone(b, 'planned', past, participants=(self.managers_in(self.muni_b1)[1],))

    def decision(self, mgr, camp, dtype, amount=None):
        return int(self.sql(
            "INSERT INTO decisions (manager_id, campaign_id, type, basis, act_number, act_date, "
            "effective_on, amount, issuer_role) VALUES (%d, %d, '%s', 'Основание', '№ 1', "
            "current_date, current_date, %s, 'regional_operator') RETURNING id"
            % (mgr, camp, dtype, sql_lit(amount))))

    def seed_decisions(self):
        a1, a2 = self.managers_in(self.muni_a1), self.managers_in(self.muni_a2)
        self.decisions = []
        for mgr, camp, dtype, amount in ((a1[0], self.cur, 'bonus', D('1000.50')),
                                         (a1[1], self.cur, 'bonus', D('250')),
                                         (a2[0], self.cur, 'training_referral', None),
                                         (a1[0], self.cur, 'warning', None),
                                         (a2[1], self.prev, 'bonus', D('99'))):
            self.decision(mgr, camp, dtype, amount)
            self.decisions.append({'manager': mgr, 'campaign': camp, 'type': dtype,
                                   'amount': amount, 'revoked': False})
        # A revoked commendation: the revocation record is not a decision of its own.
        old = self.decision(a1[2], self.cur, 'commendation')
        rev = int(self.sql(
            "INSERT INTO decisions (manager_id, campaign_id, type, basis, act_number, act_date, "
            "effective_on, issuer_role, revokes_decision_id) VALUES (%d, %d, 'revocation', "
            "'Ошибка', '№ 2', current_date, current_date, 'regional_operator', %d) RETURNING id"
            % (a1[2], self.cur, old)))
        self.sql("UPDATE decisions SET revoked_by_decision_id = %d, revoked_at = now() "
                 "WHERE id = %d" % (rev, old))
        self.decisions.append({'manager': a1[2], 'campaign': self.cur, 'type': 'commendation',
                               'amount': None, 'revoked': True})

    # --- the recomputation

    def in_territory(self, muni, m):
        return muni is None or m == muni

    def expected(self, muni):
        cur, prev = self.cur, self.prev
        cat = self.catalog[cur]
        subs = self.subs_of(cur)
        mine = [s for s in subs.values() if self.in_territory(muni, s['muni'])]
        firsts = dict((int(a), b == 't') for a, b in self.rows(
            "SELECT id, first_submitted_at IS NOT NULL FROM submissions WHERE campaign_id = %d"
            % cur))
        returned = {int(x[0]) for x in self.rows(
            "SELECT id FROM submissions WHERE campaign_id = %d AND returned_at IS NOT NULL"
            % cur)}
        steps = {}
        steps['goals'] = {'key': 'goals', 'count': len(GOALS), 'items': GOALS}
        sources = {k: sum(1 for i in cat if i['source'] == k)
                   for k in ('self', 'municipal', 'regional_import')}
        steps['indicators'] = {
            'key': 'indicators', 'count': len(cat),
            # no what-if run in this world (test_simulations counts them)
            'simulations': {'count': 0, 'latest': []},
            'by_direction': [{'code': d, 'count': sum(1 for i in cat if i['direction'] == d)}
                             for d in DIRECTIONS],
            'by_source': sources,
            'items': [{'code': i['code'], 'name': i['name'], 'direction': i['direction'],
                       'method': i['method'], 'source': i['source'],
                       'data_kind': i['data_kind']} for i in cat],
            'by_data_kind': {k: sum(1 for i in cat if i['data_kind'] == k) for k in DATA_KINDS},
            'policy_lint': {
                'vpr_raw': sum(1 for i in cat if i['data_kind'] == 'vpr_raw'),
                'bounds': sum(1 for i in cat if i['type'] != 'boolean'
                              and i['min'] >= i['max']),
                'no_weight': sum(1 for i in cat
                                 if not any(v > 0 for v in i['weights'].values()))}}
        src_of = {i['id']: i['source'] for i in cat}
        vals = [src_of[iid] for s in mine for iid in s['values']]
        steps['methods'] = {
            'key': 'methods', 'indicator_sources': sources,
            'values': dict({k: vals.count(k) for k in sources}, total=len(vals)),
            'imports': len(self.imports), 'imported_rows': sum(r for r, _ in self.imports),
            'imported_values': sum(v for _, v in self.imports)}
        st = [s['status'] for s in mine]
        steps['monitoring'] = {
            'key': 'monitoring', 'expected': len(mine),
            'submitted': sum(1 for x in st if x in ('submitted', 'verified', 'approved')),
            'submitted_on_time': sum(1 for s in mine if s['on_time']),
            'submitted_late': sum(1 for s in mine if firsts[s['id']] and not s['on_time']),
            'verified': sum(1 for x in st if x in ('verified', 'approved')),
            'approved': st.count('approved'),
            'returned_count': sum(1 for s in mine if s['id'] in returned),
            'approved_share': (D(st.count('approved')) / len(mine)).quantize(D('0.0001'))
            if mine else None,
            'by_status': {k: st.count(k) for k in ('draft', 'submitted', 'verified',
                                                    'approved', 'returned')}}
        steps['analysis'] = self.expected_analysis(muni)
        recs = [r for r in self.recs if r['campaign'] == cur and self.in_territory(muni, r['muni'])
                and r['status'] not in ('draft', 'withdrawn')]
        rs = [r['status'] for r in recs]
        steps['recommendations'] = {
            'key': 'recommendations', 'issued': len(recs),
            'acknowledged': sum(1 for x in rs if x in ('acknowledged', 'reported', 'accepted')),
            'reported': sum(1 for x in rs if x in ('reported', 'accepted')),
            'accepted': rs.count('accepted'),
            'overdue': sum(1 for r in recs if r['overdue'] and r['status'] != 'accepted'),
            'to_managers': sum(1 for r in recs if r['manager']),
            'to_municipalities': sum(1 for r in recs if not r['manager']),
            'managers_addressed': len({r['manager'] for r in recs if r['manager']}),
            'by_status': {k: rs.count(k) for k in ('issued', 'acknowledged', 'reported',
                                                    'accepted')}}
        steps['measures'] = self.expected_measures(muni)
        decs = [d for d in self.decisions if d['campaign'] == cur
                and self.in_territory(muni, self.mgr_muni(d['manager']))]
        live = [d for d in decs if not d['revoked']]
        steps['decisions'] = {
            'key': 'decisions', 'total': len(live), 'revoked': len(decs) - len(live),
            'managers': len({d['manager'] for d in live}),
            'bonus_amount': sum((d['amount'] for d in live if d['type'] == 'bonus'), D(0)),
            'by_type': [{'type': t, 'count': sum(1 for d in live if d['type'] == t)}
                        for t in DECISION_TYPES]}
        steps['effect'] = self.expected_effect(muni)
        return steps

    def expected_analysis(self, muni):
        sc = self.expected_scores(self.cur)
        ps = self.expected_scores(self.prev)
        cur = sorted(s['total'] for s in sc.values() if s['status'] == 'approved'
                     and s['total'] is not None and self.in_territory(muni, s['muni']))
        prev = [s['total'] for s in ps.values() if s['status'] == 'approved'
                and s['total'] is not None and self.in_territory(muni, s['muni'])]
        a = {'key': 'analysis', 'count': len(cur)}
        if cur:
            a.update(mean=r2(sum(cur) / len(cur)), median=r2(quantile(cur, '0.5')),
                     q1=r2(quantile(cur, '0.25')), q3=r2(quantile(cur, '0.75')),
                     min=cur[0], max=cur[-1])
        else:
            a.update(mean=None, median=None, q1=None, q3=None, min=None, max=None)
        a['levels'] = {lvl: sum(1 for s in sc.values() if s['status'] == 'approved'
                                and s['total'] is not None and s['level'] == lvl
                                and self.in_territory(muni, s['muni'])) for lvl in LEVELS}
        a['previous_campaign_id'] = self.prev
        a['count_previous'] = len(prev)
        a['mean_previous'] = r2(sum(prev) / len(prev)) if prev else None
        a['mean_change'] = (a['mean'] - a['mean_previous']) \
            if a['mean'] is not None and a['mean_previous'] is not None else None
        # Outliers: population z within indicator and kind over the whole campaign.
        subs = self.subs_of(self.cur)
        numeric = {i['id'] for i in self.catalog[self.cur] if i['type'] != 'boolean'}
        groups = {}
        for s in subs.values():
            if s['status'] not in ('submitted', 'verified', 'approved'):
                continue
            for iid, v in s['values'].items():
                if iid in numeric:
                    groups.setdefault((iid, s['kind']), []).append((s, Fraction(v)))
        out = 0
        for members in groups.values():
            n = len(members)
            mean = sum(v for _, v in members) / n
            var = sum((v - mean) ** 2 for _, v in members) / n
            out += sum(1 for s, v in members if var > 0 and (v - mean) ** 2 > 9 * var
                       and self.in_territory(muni, s['muni']))
        a['outliers'] = out
        self_ids = {i['id'] for i in self.catalog[self.cur] if i['source'] == 'self'}
        ids = {s['id'] for s in subs.values() if self.in_territory(muni, s['muni'])}
        a['values_changed_at_verification'] = sum(
            1 for sid, iid in (map(int, r) for r in self.rows(
                "SELECT v.submission_id, v.indicator_id FROM submission_values v JOIN submissions "
                "s ON s.id = v.submission_id WHERE s.campaign_id = %d AND v.submitted_value <> "
                "v.verified_value" % self.cur))
            if sid in ids and iid in self_ids)
        # The peer clusters' groups, as GET /aggregates?group_by=cluster gives them.
        a['by_cluster'] = cluster_expect.server_order(cluster_expect.expected_groups(
            self, self.cur, self.prev, ['cluster'],
            lambda s: self.in_territory(muni, s['muni'])), ['cluster'])
        # Calibration: the territory's totals of GET /campaigns/{id}/calibration.
        cal = calibration_of(compared_values(self, self.cur,
                                             lambda s: self.in_territory(muni, s['muni'])))
        a['calibration'] = dict(cal['total'].figures(), organizations=len(cal['orgs']),
                                organizations_flagged=len(cal['flagged']),
                                rule={'min_values': DEFAULT_RULE[0],
                                      'min_share_lowered': DEFAULT_RULE[1],
                                      'min_mean_gap': DEFAULT_RULE[2]})
        return a

    def expected_measures(self, muni):
        year_from, year_to = '%d-01-01' % 2024, '%d-12-31' % 2024
        rms = [r for r in self.roadmaps if r['region'] == self.region_a
               and (muni is None or r['muni'] == muni)
               and r['from'] <= year_to and r['to'] >= year_from]
        ms = [m for m in self.milestones if m['roadmap'] in rms]

        def overdue(m):
            if m['status'] not in ('planned', 'in_progress'):
                return False
            deadline = m['roadmap']['to'] if m['recurrence'] == 'annual' else m['due']
            return deadline is not None and deadline < self.today

        return {'key': 'measures', 'roadmaps': len(rms),
                'roadmaps_by_level': {lv: sum(1 for r in rms if r['level'] == lv)
                                      for lv in ('regional', 'municipal', 'organization')},
                'milestones': len(ms),
                **{st: sum(1 for m in ms if m['status'] == st)
                   for st in ('planned', 'in_progress', 'done', 'cancelled')},
                'overdue': sum(1 for m in ms if overdue(m)),
                'participants': len({p for m in ms if m['status'] != 'cancelled'
                                     for p in m['participants']})}

    def expected_effect(self, muni):
        sc, ps = self.expected_scores(self.cur), self.expected_scores(self.prev)

        def totals(scores, territory):
            by = {}
            for s in scores.values():
                if s['status'] == 'approved' and s['total'] is not None and s['manager'] \
                        and (not territory or self.in_territory(muni, s['muni'])):
                    by.setdefault(s['manager'], []).append(s['total'])
            return {m: sum(v) / len(v) for m, v in by.items()}

        cur, prev = totals(sc, True), totals(ps, False)
        closes = self.sql("SELECT closes_at::date FROM campaigns WHERE id = %d" % self.cur)
        treated_mgrs = {r['manager'] for r in self.recs if r['status'] == 'accepted'
                        and r['campaign'] in (self.cur, self.prev) and r['manager']}
        treated_mgrs |= {p for m in self.milestones if m['status'] != 'cancelled'
                         and m['roadmap']['region'] == self.region_a
                         and m['roadmap']['from'] <= closes and m['roadmap']['to'] >= '2023-01-01'
                         for p in m['participants']}
        panel = [m for m in cur if m in prev]

        def group(members, empty_reason):
            if not members:
                return {'count': 0, 'mean_change': None, 'mean_current': None,
                        'mean_previous': None, 'reason': empty_reason}
            n = len(members)
            return {'count': n,
                    'mean_change': r2(sum(cur[m] - prev[m] for m in members) / n),
                    'mean_current': r2(sum(cur[m] for m in members) / n),
                    'mean_previous': r2(sum(prev[m] for m in members) / n), 'reason': None}

        t = group([m for m in panel if m in treated_mgrs], 'no head')
        o = group([m for m in panel if m not in treated_mgrs], 'every head')
        return {'key': 'effect', 'previous_campaign_id': self.prev, 'panel': len(panel),
                'treated': t, 'others': o,
                'difference': t['mean_change'] - o['mean_change']
                if t['count'] and o['count'] else None}


def json_text(v):
    import json
    return json.dumps(v, ensure_ascii=False)


def png_check(path, width, height):
    """(width, height, distinct colours in the top rows) of an 8-bit RGB(A)/grey PNG,
    decoded with zlib and struct only."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        elif kind == b'IEND':
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    assert (w, h) == (width, height), 'PNG is %dx%d' % (w, h)
    assert depth == 8 and interlace == 0 and ctype in (0, 2, 4, 6), 'PNG format %r' % (ihdr,)
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(b''.join(idat))
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(min(h, 500)):  # the page's head: title, first sections
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) \
                    & 255
        for x in range(0, stride, bpp * 3):
            colours.add(bytes(line[x:x + bpp]))
        prev = line
    return w, h, len(colours)


class CycleReportTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = CycleWorld(cls.daemon, cls.cluster)

    def report(self, token, muni=None, accept=None, camp=None, expect=200):
        w = self.w
        r = w.get(url('%s/campaigns/%d/cycle-report' % (API, camp or w.cur),
                      municipality_id=muni), token,
                  headers={'Accept': accept} if accept else None)
        assert_status(r, expect, 'cycle-report muni=%r accept=%r' % (muni, accept))
        return r

    def compare(self, doc, muni):
        want = self.w.expected(muni)
        got = {s['key']: s for s in doc['steps']}
        self.assertEqual([s['key'] for s in doc['steps']],
                         ['goals', 'indicators', 'methods', 'monitoring', 'analysis',
                          'warnings', 'recommendations', 'measures', 'decisions', 'effect'])
        for key, exp in want.items():
            g = got[key]
            if key == 'indicators':
                g = dict(g, by_direction=[{'code': d['code'], 'count': d['count']}
                                          for d in g['by_direction']],
                         items=[{k: i[k] for k in ('code', 'name', 'direction', 'method',
                                                   'source', 'data_kind')} for i in g['items']])
            if key == 'methods':
                sa = g['self_assessment']
                self.assertEqual(D(sa['days']), D(30))
                g = {k: v for k, v in g.items() if k != 'self_assessment'}
            if key == 'effect':
                for side in ('treated', 'others'):
                    # The reason's words are the server's; that there is one is checked.
                    if exp[side]['reason']:
                        self.assertTrue(g[side]['reason'])
                        exp[side]['reason'] = g[side]['reason']
            self.assertEqual(g, exp, 'step %s (municipality %r)' % (key, muni))
        return want

    def test_01_region_figures(self):
        w = self.w
        for role in ('admin', 'regional_operator', 'expert'):
            doc = w.json(self.report(w.tok[role]))
            self.assertEqual(doc['territory']['level'], 'region')
            self.assertIsNone(doc['territory']['municipality'])
            self.assertEqual(doc['territory']['region']['id'], w.region_a)
            self.assertEqual(doc['campaign']['id'], w.cur)
            self.assertEqual(doc['campaign']['title'], HOSTILE_TITLE)
            self.assertEqual(doc['campaign']['previous_campaign']['id'], w.prev)
            self.assertEqual(doc['as_of'], w.today)
            self.assertTrue(doc['generated_at'])
            want = self.compare(doc, None)
        # The dataset exercises every figure.
        self.assertGreater(want['analysis']['outliers'], 0)
        self.assertGreater(want['analysis']['values_changed_at_verification'], 0)
        self.assertGreater(want['analysis']['calibration']['lowered'], 0)
        self.assertGreater(want['effect']['treated']['count'], 0)
        self.assertGreater(want['effect']['others']['count'], 0)
        self.assertGreater(want['measures']['overdue'], 0)
        self.assertGreater(want['recommendations']['overdue'], 0)
        self.assertGreater(want['monitoring']['returned_count'], 0)
        self.assertGreater(want['monitoring']['submitted_late'], 0)

    def test_02_municipality_figures(self):
        w = self.w
        # A municipal operator gets its own municipality by default and when it names it.
        for muni in (None, w.muni_a1):
            doc = w.json(self.report(w.tok['municipal_operator'], muni=muni))
            self.assertEqual(doc['territory']['level'], 'municipality')
            self.assertEqual(doc['territory']['municipality']['id'], w.muni_a1)
            self.compare(doc, w.muni_a1)
        doc = w.json(self.report(w.tok['municipal_operator_a2']))
        self.compare(doc, w.muni_a2)
        for muni in (w.muni_a1, w.muni_a2, w.muni_a3):
            doc = w.json(self.report(w.tok['regional_operator'], muni=muni))
            self.assertEqual(doc['territory']['municipality']['id'], muni)
            self.compare(doc, muni)
        # A municipality's figures differ from the region's.
        region = w.expected(None)
        a1 = w.expected(w.muni_a1)
        self.assertNotEqual(region['monitoring'], a1['monitoring'])
        self.assertNotEqual(region['measures'], a1['measures'])

    def test_03_previous_campaign_absent(self):
        w = self.w
        doc = w.json(self.report(w.tok['admin'], camp=w.prev))
        self.assertIsNone(doc['campaign']['previous_campaign'])
        steps = {s['key']: s for s in doc['steps']}
        eff = steps['effect']
        self.assertEqual(eff['panel'], 0)
        for side in ('treated', 'others'):
            self.assertEqual(eff[side]['count'], 0)
            self.assertIsNone(eff[side]['mean_change'])
            self.assertIn('previous campaign', eff[side]['reason'])
        self.assertIsNone(eff['difference'])
        self.assertIsNone(steps['analysis']['mean_previous'])
        self.assertIsNone(steps['analysis']['mean_change'])

    def test_04_scope_and_roles(self):
        w = self.w
        path = '%s/campaigns/%d/cycle-report' % (API, w.cur)
        # Out of scope is 404: another region's campaign, another municipality, a
        # municipality of another region, a missing campaign.
        assert_problem(w.get(path, w.tok['regional_b']), 404)
        assert_problem(w.get(url(path, municipality_id=w.muni_a2),
                             w.tok['municipal_operator']), 404)
        assert_problem(w.get(url(path, municipality_id=w.muni_b1), w.tok['admin']), 404)
        assert_problem(w.get(url(path, municipality_id=w.muni_b1),
                             w.tok['regional_operator']), 404)
        assert_problem(w.get(url(path, municipality_id=999999999), w.tok['admin']), 404)
        assert_problem(w.get('%s/campaigns/999999999/cycle-report' % API, w.tok['admin']), 404)
        r = w.get('%s/campaigns/%d/cycle-report' % (API, w.camp_b), w.tok['expert'])
        assert_problem(r, 404)
        # Roles the route does not take: 403; no token: 401.
        for role in ('head', 'portal'):
            assert_problem(w.get(path, w.tok[role]), 403)
        assert_problem(w.get(path, None), 401)
        # Bad parameters: 400 naming the parameter.
        for bad in ('abc', '0', '-1', '01'):
            r = w.get(url(path, municipality_id=bad), w.tok['admin'])
            assert_problem(r, 400)
            self.assertIn('municipality_id', r.body.decode())
        # Another region's admin view works.
        assert_status(w.get('%s/campaigns/%d/cycle-report' % (API, w.camp_b),
                            w.tok['admin']), 200)

    def test_05_csv(self):
        """The CSV is tables with Russian headers (src/cycle/report_tables.c): each step under
        its title line, its figures as Показатель/Значение, each list as its own table."""
        w = self.w
        doc = w.json(self.report(w.tok['regional_operator'], muni=w.muni_a1))
        r = self.report(w.tok['regional_operator'], muni=w.muni_a1, accept='text/csv')
        self.assertTrue(r.headers['content-type'].startswith('text/csv'))
        self.assertRegex(r.headers['content-disposition'],
                         r'^attachment; filename="cycle-report-\d+-municipality-\d+\.csv"$')
        self.assertTrue(r.body.startswith(b'\xef\xbb\xbf'), 'UTF-8 BOM')
        text = r.body[3:].decode('utf-8')
        self.assertTrue(text.endswith('\r\n'))
        self.assertNotIn('\n', text.replace('\r\n', ''), 'CRLF line ends only')
        rows = list(csv.reader(io.StringIO(text, newline='')))
        self.assertNotIn('items[', text, 'no flattened JSON keys')
        titles = [rows[i - 1][0] for i, x in enumerate(rows)
                  if i and x == ['Показатель', 'Значение']]
        self.assertEqual(titles, ['Отчёт', 'Цели', 'Показатели', 'Методы сбора информации',
                                  'Мониторинг', 'Анализ результатов', 'Ранние предупреждения',
                                  'Адресные рекомендации', 'Меры и мероприятия',
                                  'Управленческие решения',
                                  'Анализ эффективности мер'])
        cells = [c for x in rows for c in x]
        # Every number and string of the JSON is a cell of some table.
        def leaves(v, out):
            if isinstance(v, dict):
                for k, x in v.items():
                    if k != 'key':
                        leaves(x, out)
            elif isinstance(v, list):
                for x in v:
                    leaves(x, out)
            elif v is not None and not isinstance(v, bool):
                out.append(v)
            return out
        nums = [D(c) for c in cells if re.fullmatch(r'-?\d+(\.\d+)?', c)]
        for v in leaves(doc['steps'], []) + leaves(doc['territory'], []):
            if isinstance(v, str):
                self.assertIn(v, cells)
            else:
                self.assertIn(D(v), nums)
        start = rows.index(['Мониторинг']) + 2
        end = rows.index([], start)
        figures = {x[0]: x[1] for x in rows[start:end]}
        self.assertEqual(figures['Обязаны представить'],
                         str(w.expected(w.muni_a1)['monitoring']['expected']))
        self.assertIn(HOSTILE_INDICATOR, cells)
        self.assertIn(GOALS[0], cells)
        # An Accept the report cannot meet: 406 naming what it gives.
        r = self.report(w.tok['admin'], accept='application/x-unknown', expect=406)
        self.assertIn('text/csv', w.json(r)['detail'])

    def html(self, muni=None):
        r = self.report(self.w.tok['regional_operator'], muni=muni, accept='text/html')
        self.assertTrue(r.headers['content-type'].startswith('text/html'))
        return r.body.decode('utf-8')

    def test_06_html_escaping_and_content(self):
        w = self.w
        page = self.html(w.muni_a1)
        self.assertTrue(page.startswith('<!DOCTYPE html>'))
        # Hostile text from the database arrives escaped, never as markup.
        self.assertNotIn('<script', page.lower())
        self.assertNotIn('<b>управления</b>', page)
        self.assertNotIn('<i>', page)
        self.assertIn('&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; Co', page)
        self.assertIn('&lt;script&gt;alert(&#39;i&#39;)&lt;/script&gt; Доля &amp; '
                      '&quot;кавычки&quot;', page)
        self.assertIn('Отношение a &lt; b &amp;&amp; c &gt; d', page)
        self.assertIn('Повысить качество &lt;b&gt;управления&lt;/b&gt; &amp; подготовки', page)
        self.assertIn('Арамиль &lt;i&gt;&amp;amp;&lt;/i&gt;', page)
        # Self-contained and printable: inline CSS with print rules, no scripts or
        # external resources.
        self.assertIn('<style>', page)
        self.assertIn('@media print', page)
        for needle in ('src=', 'href=', '<link', 'url(', 'http://', 'https://', '@import'):
            self.assertNotIn(needle, page)
        # The nine steps and the warnings, in order, with Russian headings.
        at = [page.find('<h2>%d. %s</h2>' % (i + 1, h)) for i, h in enumerate(HEADINGS)]
        self.assertTrue(all(p >= 0 for p in at), dict(zip(HEADINGS, at)))
        self.assertEqual(at, sorted(at))
        self.assertIn('<table', page)
        want = w.expected(w.muni_a1)
        self.assertIn('<td class="num">%d</td>' % want['monitoring']['expected'], page)
        # Every indicator is a row.
        for ind in w.catalog[w.cur]:
            self.assertIn('<td>%s</td>' % ind['code'], page)

    def test_06b_html_reads_as_a_russian_document(self):
        w = self.w
        page = self.html(w.muni_a1)
        want = w.expected(w.muni_a1)
        # The title names the document, the campaign and the territory.
        title = page[page.index('<title>'):page.index('</title>')]
        self.assertIn('Отчёт о реализации управленческого цикла', title)
        self.assertIn('&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; Co', title)
        self.assertIn('Арамиль &lt;i&gt;&amp;amp;&lt;/i&gt;', title)
        region = w.sql('SELECT name FROM regions WHERE id = %d' % w.region_a)
        self.assertIn(html_escape(region), title)
        # Dates in Russian: today (the overdue date) and the generation date.
        import datetime
        today = datetime.date.fromisoformat(w.today)
        self.assertIn('<td>%s</td>' % ru_date(today), page)
        self.assertRegex(page, r'Отчёт сформирован:</th><td>\d{1,2} (%s) \d{4}\u00a0г\., '
                         r'\d\d:\d\d</td>' % '|'.join(MONTHS_GENITIVE))
        for iso in re.findall(r'\d{4}-\d\d-\d\d', page):
            self.fail('an ISO date left in the page: %s' % iso)
        # Numbers in Russian: the mean score with a decimal comma, the bonus sum with
        # a narrow no-break space between thousands, the share as a percentage.
        a = want['analysis']
        self.assertIsNotNone(a['mean'])
        self.assertIn('<td class="num">%s</td>' % ru_num(a['mean'], 2), page)
        self.assertIn(',', ru_num(a['mean'], 2))
        bonus = want['decisions']['bonus_amount']
        self.assertEqual(bonus, D('1250.50'))
        self.assertIn('<td class="num">1\u202f250,50</td>', page)
        share = want['monitoring']['approved_share']
        self.assertIn('<td class="num">%s\u00a0%%</td>' % ru_num(share * 100, 1), page)
        self.assertNotRegex(page, r'<td class="num">-?\d+\.\d+</td>', 'a decimal point')
        # A signature block, and print rules: A4, a page per step.
        for caption in ('(должность)', '(подпись)', '(инициалы, фамилия)'):
            self.assertIn(caption, page)
        self.assertIn('«____»', page)
        self.assertIn('size:A4', page)
        self.assertIn('section.step{break-before:page', page)
        self.assertEqual(page.count('<section class="step"'), len(HEADINGS))

    def test_07_html_renders_in_chromium(self):
        self.assertTrue(os.access(CHROMIUM, os.X_OK),
                        'no %s: scripts/deps.sh installs chromium' % CHROMIUM)
        page = self.html()
        tmp = tempfile.mkdtemp(prefix='effmon-cycle-report-')
        self.addCleanup(shutil.rmtree, tmp, True)
        html_path = os.path.join(tmp, 'cycle-report.html')
        png = os.path.join(tmp, 'cycle-report.png')
        profile = os.path.join(tmp, 'profile')
        os.mkdir(profile)
        with open(html_path, 'w', encoding='utf-8') as f:
            f.write(page)
        argv = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
                '--hide-scrollbars', '--user-data-dir=' + profile, '--screenshot=' + png,
                '--window-size=%d,%d' % (SHOT_W, SHOT_H), 'file://' + html_path]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, HOME=tmp), start_new_session=True)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: chromium and children
            proc.communicate()
            self.fail('chromium did not finish in 120 s')
        self.assertTrue(os.path.exists(png), 'no screenshot; chromium said: %s'
                        % err.decode(errors='replace')[-2000:])
        w, h, colours = png_check(png, SHOT_W, SHOT_H)
        self.assertGreater(colours, 1, 'the screenshot is blank')
        # Printed: A4 pages, the title page and then each step from a new page.
        pdf = os.path.join(tmp, 'cycle-report.pdf')
        os.mkdir(profile + '-pdf')
        argv = [a for a in argv if not a.startswith(('--screenshot=', '--window-size=',
                                                     '--user-data-dir='))]
        argv[-1:-1] = ['--user-data-dir=' + profile + '-pdf', '--no-pdf-header-footer',
                       '--print-to-pdf=' + pdf]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, HOME=tmp), start_new_session=True)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            self.fail('chromium did not print in 120 s')
        self.assertTrue(os.path.exists(pdf), 'no PDF; chromium said: %s'
                        % err.decode(errors='replace')[-2000:])
        with open(pdf, 'rb') as f:
            data = f.read()
        boxes = re.findall(rb'/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]', data)
        pages = len(re.findall(rb'/Type\s*/Page(?![s\w])', data))
        self.assertGreaterEqual(pages, 1 + len(HEADINGS), 'a page per step: %d pages' % pages)
        self.assertTrue(boxes)
        for bw, bh in boxes:  # A4: 595 x 842 pt
            self.assertAlmostEqual(float(bw), 595.3, delta=1.5)
            self.assertAlmostEqual(float(bh), 841.9, delta=1.5)
        keep = os.path.join(os.path.dirname(os.path.abspath(harness.EFFMOND_SOURCE)), 'meson-logs')
        if os.path.isdir(keep):
            shutil.copy(pdf, os.path.join(keep, 'cycle-report.pdf'))
            shutil.copy(png, os.path.join(keep, 'cycle-report.png'))
            shutil.copy(html_path, os.path.join(keep, 'cycle-report.html'))
            png = os.path.join(keep, 'cycle-report.png')
        print('\ncycle-report screenshot: %s (%dx%d, %d colours in the head); %d A4 pages'
              % (png, w, h, colours, pages))


if __name__ == '__main__':
    harness.main()
