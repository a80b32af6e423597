"""
monitoring_fixtures.py - the registry world (registry_fixtures.World) plus monitoring and
management-cycle objects, all made through the API as the admin: an open campaign in
region A and one in region B (a catalog with self, municipal and regional_import
indicators; organizations enough in municipalities A1 and B1 that every cell can take an
unused submission), draft campaigns with indicators, an attestation, a recommendation, a
decision, an organization roadmap and a milestone on each side; helpers to make fresh ones
and to move submissions into a given state.

Stdlib only; run with /usr/bin/python3.
"""
import datetime
import itertools
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API  # noqa: E402

# The catalog of every fixture campaign: code -> (direction, value_type, min, max, source).
# Organizations made by registry_fixtures are schools; every indicator weighs 1 for them.
CATALOG = {
    'S1': ('management', 'number', 0, 100, 'self'),
    'S2': ('network', 'boolean', None, None, 'self'),
    'M1': ('network', 'number', 0, 10, 'municipal'),
    'R1': ('student_results', 'number', 0, 100, 'regional_import'),
}
GOOD_SELF = [{'indicator': 'S1', 'value': 70}, {'indicator': 'S2', 'value': True}]
WEAK_SELF = [{'indicator': 'S1', 'value': 3}, {'indicator': 'S2', 'value': False}]
# Submission states, in the order an admin moves a fresh submission through them.
ORDER = ('draft', 'submitted', 'verified', 'approved')
# Extra organizations per municipality, made before the campaigns open: each is one
# submission per campaign for cells that need a fresh one.
POOL_A = 6
POOL_B = 7


def stamp(days):
    """An ISO 8601 timestamp with offset, `days` from now."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return t.replace(microsecond=0).isoformat()


class World(rf.World):
    def __init__(self, daemon, cluster):
        super().__init__(daemon, cluster)
        self._years = itertools.count(2030)
        self._lock = threading.Lock()
        self.pool = {'A': [], 'B': []}
        self.inns = {}
        pool_orgs = {'A': [], 'B': []}
        for side, muni, n in (('A', self.muni_a1, POOL_A), ('B', self.muni_b1, POOL_B)):
            for _ in range(n):
                o = self.new_organization(muni)
                pool_orgs[side].append(o['id'])
                self.inns[o['id']] = o['inn']

        # Open campaigns in A and B; their submissions by organization.
        self.camp_a = self.new_campaign(self.region_a, open_it=True)['id']
        self.camp_b = self.new_campaign(self.region_b, open_it=True)['id']
        subs_a, subs_b = self.submissions(self.camp_a), self.submissions(self.camp_b)
        self.sub_a1, self.sub_b1 = subs_a[self.org_a1], subs_b[self.org_b1]
        self.org_of = {}
        for subs in (subs_a, subs_b):
            self.org_of.update({s: o for o, s in subs.items()})
        self.pool['A'] = [subs_a[o] for o in pool_orgs['A']]
        self.pool['B'] = [subs_b[o] for o in pool_orgs['B']]
        # One submission per side written by every PUT .../values cell (in draft).
        self.values_sub = {'A': self.take('A'), 'B': self.take('B')}
        # A filled draft per side for the cells that must be refused (taken when needed).
        self.refused_sub = {}
        # Approved weak submissions of heads, so that recommendation drafts have a basis.
        self.advance(subs_a[self.org_a1b], 'approved', WEAK_SELF)
        self.advance(self.sub_b1, 'approved', WEAK_SELF)

        # Draft campaigns (catalogs still editable) with one indicator.
        self.draft_a = self.new_campaign(self.region_a)['id']
        self.draft_b = self.new_campaign(self.region_b)['id']
        self.ind_a = self.new_indicator(self.draft_a)['id']
        self.ind_b = self.new_indicator(self.draft_b)['id']

        # The management cycle, one object per side.
        self.att_a = self.create(API + '/attestations', self.attestation_body(self.mgr_a1))['id']
        self.att_b = self.create(API + '/attestations', self.attestation_body(self.mgr_b1))['id']
        self.rec_a = self.new_recommendation('A')['id']
        self.rec_b = self.new_recommendation('B')['id']
        self.dec_a = self.new_decision('A')['id']
        self.dec_b = self.new_decision('B')['id']
        self.rm_a = self.new_roadmap('A')['id']
        self.rm_b = self.new_roadmap('B')['id']
        self.ms_a = self.new_milestone('A')['id']
        self.ms_b = self.new_milestone('B')['id']

    # --- sides

    def side(self, where):
        return 'A' if where in ('in', 'A', None) else 'B'

    def region(self, side):
        return self.region_a if side == 'A' else self.region_b

    def muni(self, side):
        return self.muni_a1 if side == 'A' else self.muni_b1

    def org(self, side):
        return self.org_a1 if side == 'A' else self.org_b1

    def mgr(self, side):
        return self.mgr_a1 if side == 'A' else self.mgr_b1

    def campaign(self, side):
        return self.camp_a if side == 'A' else self.camp_b

    # --- campaigns and catalogs

    def year(self):
        with self._lock:
            return next(self._years)

    def campaign_body(self, region_id, **over):
        y = self.year()
        b = {'region_id': region_id, 'year': y, 'title': 'Мониторинг %d' % y,
             'goals': ['Повышение качества управления'], 'opens_at': stamp(-1),
             'closes_at': stamp(30)}
        b.update(over)
        return b

    def indicator_body(self, code=None, direction='management', value_type='number', lo=0,
                       hi=100, source='self', **over):
        b = {'code': code or 'X%d' % self.seq.next(), 'name': 'Показатель', 'direction': direction,
             'value_type': value_type, 'source': source, 'polarity': 'up',
             'weights': {'school': 1}}
        if lo is not None:
            b.update(min_value=lo, max_value=hi)
        b.update(over)
        return b

    def new_indicator(self, campaign_id, token=None, **over):
        return self.create('%s/campaigns/%d/indicators' % (API, campaign_id),
                           self.indicator_body(**over), token)

    def new_campaign(self, region_id, open_it=False, catalog=True):
        """A campaign of the region (draft, or opened) with the CATALOG indicators."""
        c = self.create(API + '/campaigns', self.campaign_body(region_id))
        if catalog:
            # A new campaign starts with a copy of the region's previous catalog.
            have = set(self.sql('SELECT code FROM indicators WHERE campaign_id = %d'
                                % c['id']).split())
            for code, (direction, vt, lo, hi, source) in CATALOG.items():
                if code in have:
                    continue
                self.new_indicator(c['id'], code=code, direction=direction,
                                   value_type=vt, lo=lo, hi=hi, source=source)
        if open_it:
            self.move('%s/campaigns/%d' % (API, c['id']), 'open')
        return c

    def submissions(self, campaign_id):
        out = self.sql('SELECT organization_id, id FROM submissions WHERE campaign_id = %d'
                       % campaign_id)
        return dict(tuple(int(x) for x in line.split('|')) for line in out.split())

    # --- moving objects (as the admin unless a token is given)

    def move(self, path, to, token=None, expect=200, **extra):
        body = dict(to=to, **extra)
        r = self.call('POST', path + '/transitions', body=body,
                      token=token or self.admin.token, headers={'If-Match': self.etag(path)})
        assert_status(r, expect, 'move %s to %s' % (path, to))
        return r.json

    def put_values(self, sid, values, token=None):
        path = '%s/submissions/%d' % (API, sid)
        r = self.call('PUT', path + '/values', body={'values': values},
                      token=token or self.admin.token, headers={'If-Match': self.etag(path)})
        assert_status(r, 200, 'PUT values of submission %d' % sid)
        return r.json

    def take(self, side):
        """An unused draft submission of the open campaign of the side (municipality 1)."""
        with self._lock:
            if not self.pool[side]:
                raise AssertionError('the pool of fresh submissions of %s is used up: raise '
                                     'POOL_%s in monitoring_fixtures.py' % (side, side))
            return self.pool[side].pop()

    def advance(self, sid, state, values=None):
        """Moves a draft submission to state as the admin (filling the self values first)."""
        path = '%s/submissions/%d' % (API, sid)
        self.put_values(sid, values or GOOD_SELF)
        for to in ORDER[1:ORDER.index(state) + 1]:
            self.move(path, to)
        return sid

    def fresh_submission(self, side, state, values=None):
        return self.advance(self.take(side), state, values)

    # --- the management cycle

    def competencies(self):
        out = self.sql('SELECT code FROM competencies ORDER BY id')
        return out.split()

    def attestation_body(self, manager_id, **over):
        b = {'manager_id': manager_id, 'attested_on': '2024-05-20',
             'commission': 'Аттестационная комиссия', 'protocol_number': 'П-%d' % self.seq.next(),
             'decision': 'fits_position', 'valid_until': '2029-05-20',
             'scores': [{'competency': c, 'score': 0} for c in self.competencies()]}
        b.update(over)
        return b

    def recommendation_body(self, side, **over):
        b = {'campaign_id': self.campaign(side), 'addressee_manager_id': self.mgr(side),
             'directions': ['management'], 'indicators': ['S1'],
             'text': 'Повысить долю выпускников %d' % self.seq.next(), 'due_on': '2030-12-31'}
        b.update(over)
        return b

    def new_recommendation(self, side, token=None, **over):
        return self.create(API + '/recommendations', self.recommendation_body(side, **over),
                           token)

    def decision_body(self, side, **over):
        b = {'manager_id': self.mgr(side), 'campaign_id': self.campaign(side),
             'type': 'commendation', 'basis': 'Результаты мониторинга',
             'act_number': '%d-к' % self.seq.next(), 'act_date': '2024-02-01',
             'effective_on': '2024-03-01'}
        b.update(over)
        return b

    def new_decision(self, side, token=None, **over):
        return self.create(API + '/decisions', self.decision_body(side, **over), token)

    def revoke_body(self):
        return {'reason': 'Ошибка в расчёте', 'act_number': '%d-к' % self.seq.next(),
                'act_date': '2024-02-10'}

    def roadmap_body(self, side, **over):
        b = {'level': 'organization', 'organization_id': self.org(side),
             'title': 'Дорожная карта %d' % self.seq.next(), 'period_from': '2024-01-01',
             'period_to': '2025-12-31'}
        b.update(over)
        return b

    def new_roadmap(self, side, token=None, **over):
        return self.create(API + '/roadmaps', self.roadmap_body(side, **over), token)

    def milestone_body(self, **over):
        b = {'number': str(self.seq.next()), 'title': 'Мероприятие',
             'due_text': 'Сентябрь 2024 г.', 'executors': ['Администрация школы']}
        b.update(over)
        return b

    def new_milestone(self, side, token=None, **over):
        rm = self.rm_a if side == 'A' else self.rm_b
        return self.create('%s/roadmaps/%d/milestones' % (API, rm), self.milestone_body(**over),
                           token)
