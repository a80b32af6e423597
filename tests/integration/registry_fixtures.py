"""
registry_fixtures.py - the shared world of the registry tests: two regions (A in the
callers' scope, B outside it), municipalities, organizations with their appointed heads,
reserve candidates, a competency, and a signed-in user of every role in A and in B;
helpers to create fresh objects through the API (unique INN, OKTMO, codes, logins),
read ETags, count audit rows, and decide what a caller may see.

Uses harness.py (Cluster, Daemon, request helpers, create_user, login) and adds only
what the registry needs. Stdlib only; run with /usr/bin/python3.
"""
import itertools
import json
import os
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import assert_problem, assert_status, inn10  # noqa: E402

API = '/api/v1'
PASSWORD = 'registry-secret-1'
ROLES = ('admin', 'regional_operator', 'municipal_operator', 'head', 'expert', 'portal')
TODAY = '2024-06-01'


def url(path, **params):
    """path?params, percent-encoded (Cyrillic too); None values are left out."""
    items = [(k, v) for k, v in params.items() if v is not None]
    if not items:
        return path
    return path + '?' + urllib.parse.urlencode(items, quote_via=urllib.parse.quote)


def error_fields(r):
    """The field names in a problem's errors array (a set)."""
    doc = r.json or {}
    errs = doc.get('errors') or []
    return {e.get('field') for e in errs if isinstance(e, dict)}


def assert_fields(r, status, fields, what=''):
    """r is a problem with this status whose errors name every field in fields."""
    doc = assert_problem(r, status, what)
    named = error_fields(r)
    missing = set(fields) - named
    if missing:
        raise AssertionError('%s: errors do not name %s (named: %s): %r'
                             % (what, sorted(missing), sorted(named), r))
    for e in doc.get('errors') or []:
        if not isinstance(e, dict) or not isinstance(e.get('message'), str) or not e['message']:
            raise AssertionError('%s: an error without a message: %r' % (what, r))
    return doc


class Seq:
    """Thread-safe counters for unique codes (regions, OKTMO, INN, logins, names)."""

    def __init__(self):
        self._it = itertools.count(1)
        self._lock = threading.Lock()

    def next(self):
        with self._lock:
            return next(self._it)


class User:
    def __init__(self, uid, login, role, token, scope):
        self.id = uid
        self.login = login
        self.role = role
        self.token = token
        self.scope = scope  # {'region': id, 'municipality': id, 'organization': id}

    def __repr__(self):
        return 'User(%s %s %s)' % (self.login, self.role, self.scope)


class World:
    """Objects and callers shared by a test class; everything made through the API
    (as the admin) except the calling users, which come from `effmond create-user`."""

    def __init__(self, daemon, cluster):
        self.d = daemon
        self.c = cluster
        self.seq = Seq()
        self.region_codes = iter(range(10, 100))
        self._code_lock = threading.Lock()
        admin_id = daemon.create_user('root', 'admin', PASSWORD)
        self.admin = User(admin_id, 'root', 'admin', daemon.login('root', PASSWORD), {})

        # Region A: the callers' region, with two municipalities.
        self.region_a = self.new_region(name='Нижегородская область (тест)')['id']
        self.muni_a1 = self.new_municipality(self.region_a, name='Саров')['id']
        self.muni_a2 = self.new_municipality(self.region_a, name='Арзамас')['id']
        self.org_a1 = self.new_organization(self.muni_a1, short_name='Саровская школа №1')['id']
        self.org_a1b = self.new_organization(self.muni_a1, short_name='Школа №2 Саров')['id']
        self.org_a2 = self.new_organization(self.muni_a2, short_name='Арзамасская гимназия')['id']
        self.mgr_a1 = self.new_manager(self.muni_a1, full_name='Иванова Анна Петровна')['id']
        self.appoint(self.mgr_a1, self.org_a1)
        self.mgr_a1b = self.new_manager(self.muni_a1, full_name='Петров Пётр Петрович')['id']
        self.appoint(self.mgr_a1b, self.org_a1b)
        self.mgr_a2 = self.new_manager(self.muni_a2, full_name='Сидоров Сидор Сидорович')['id']
        self.appoint(self.mgr_a2, self.org_a2)
        self.res_a1 = self.new_reserve(self.muni_a1, full_name='Кузнецова Мария')['id']
        self.res_a2 = self.new_reserve(self.muni_a2, full_name='Смирнов Алексей')['id']

        # Region B: outside every non-admin caller of region A.
        self.region_b = self.new_region(name='Свердловская область (тест)')['id']
        self.muni_b1 = self.new_municipality(self.region_b, name='Екатеринбург')['id']
        self.org_b1 = self.new_organization(self.muni_b1, short_name='Екатеринбургский лицей')['id']
        self.mgr_b1 = self.new_manager(self.muni_b1, full_name='Орлов Олег Олегович')['id']
        self.appoint(self.mgr_b1, self.org_b1)
        self.res_b1 = self.new_reserve(self.muni_b1, full_name='Волков Иван')['id']

        self.competency = self.new_competency()['id']

        # A signed-in user of every role, in A and in B.
        self.users = {'A': {'admin': self.admin}, 'B': {'admin': self.admin}}
        for side, reg, muni, org, mgr in (('A', self.region_a, self.muni_a1, self.org_a1,
                                           self.mgr_a1),
                                          ('B', self.region_b, self.muni_b1, self.org_b1,
                                           self.mgr_b1)):
            for role in ROLES[1:]:
                self.users[side][role] = self.cli_user(role, reg, muni, org, mgr)

    # --- callers

    def user(self, role, side='A'):
        return self.users[side][role]

    def token(self, role, side='A'):
        return None if role == 'anonymous' else self.users[side][role].token

    def cli_user(self, role, region, muni, org, mgr=None, login=None):
        """A user made by `effmond create-user` and signed in."""
        login = login or 'u%d-%s' % (self.seq.next(), role.split('_')[0])
        kw = {}
        scope = {}
        if role == 'municipal_operator':
            kw['municipality'] = muni
            scope = {'region': region, 'municipality': muni}
        elif role == 'head':
            kw['organization'] = org
            if mgr:
                kw['manager'] = mgr
            scope = {'region': region, 'municipality': muni, 'organization': org}
        elif role != 'admin':
            kw['region'] = region
            scope = {'region': region}
        uid = self.d.create_user(login, role, PASSWORD, **kw)
        return User(uid, login, role, self.d.login(login, PASSWORD), scope)

    # --- HTTP

    def call(self, method, path, body=None, token=None, headers=None, as_admin=False,
             timeout=15.0):
        if as_admin:
            token = self.admin.token
        return self.d.request(method, path, body=body, token=token, headers=headers,
                              timeout=timeout)

    def get(self, path, token=None, **kw):
        return self.call('GET', path, token=token, **kw)

    def etag(self, path):
        """The current ETag of one object, read as the admin."""
        r = self.call('GET', path, as_admin=True)
        assert_status(r, 200, 'GET %s (admin, for its ETag)' % path)
        tag = r.headers.get('etag')
        if not tag:
            raise AssertionError('GET %s sent no ETag: %r' % (path, r))
        return tag

    def version(self, path):
        r = self.call('GET', path, as_admin=True)
        assert_status(r, 200, 'GET %s (admin)' % path)
        return r.json['version']

    def create(self, path, body, token=None, expect=201, headers=None):
        r = self.call('POST', path, body=body, token=token or self.admin.token, headers=headers)
        assert_status(r, expect, 'POST %s %s' % (path, json.dumps(body, ensure_ascii=False)))
        return r.json

    # --- unique values

    def region_code(self):
        with self._code_lock:
            return '%02d' % next(self.region_codes)

    def oktmo(self):
        return '%08d' % (22700000 + self.seq.next())

    def inn(self):
        return inn10('52%07d' % self.seq.next())

    # --- bodies and creates (as the admin unless a token is given)

    def region_body(self, **over):
        b = {'code': self.region_code(), 'name': 'Регион %d' % self.seq.next()}
        b.update(over)
        return b

    def municipality_body(self, region_id, /, **over):
        b = {'region_id': region_id, 'name': 'Муниципалитет %d' % self.seq.next(),
             'oktmo': self.oktmo()}
        b.update(over)
        return b

    def organization_body(self, muni_id, /, **over):
        n = self.seq.next()
        b = {'municipality_id': muni_id, 'full_name': 'МБОУ «Средняя школа №%d»' % n,
             'short_name': 'Школа №%d' % n, 'inn': self.inn(), 'kind': 'school',
             'settlement': 'urban', 'students': 300 + n}
        b.update(over)
        return b

    def manager_body(self, muni_id, /, **over):
        b = {'municipality_id': muni_id, 'full_name': 'Руководитель %d' % self.seq.next(),
             'position': 'director', 'email': 'head%d@school.example' % self.seq.next()}
        b.update(over)
        return b

    def reserve_body(self, muni_id, /, **over):
        b = {'municipality_id': muni_id, 'full_name': 'Кандидат %d' % self.seq.next(),
             'target_position': 'директор школы'}
        b.update(over)
        return b

    def competency_body(self, **over):
        b = {'code': 'comp_%d' % self.seq.next(), 'name': 'Компетенция', 'max_score': 10}
        b.update(over)
        return b

    def user_body(self, role, /, **over):
        b = {'login': 'api%d' % self.seq.next(), 'password': PASSWORD, 'role': role}
        b.update(over)
        return b

    def new_region(self, token=None, **over):
        return self.create(API + '/regions', self.region_body(**over), token)

    def new_municipality(self, region_id, /, token=None, **over):
        return self.create(API + '/municipalities', self.municipality_body(region_id, **over),
                           token)

    def new_organization(self, muni_id, /, token=None, **over):
        return self.create(API + '/organizations', self.organization_body(muni_id, **over),
                           token)

    def new_manager(self, muni_id, /, token=None, **over):
        return self.create(API + '/managers', self.manager_body(muni_id, **over), token)

    def new_reserve(self, muni_id, /, token=None, **over):
        return self.create(API + '/reserve', self.reserve_body(muni_id, **over), token)

    def new_competency(self, token=None, **over):
        return self.create(API + '/competencies', self.competency_body(**over), token)

    def new_api_user(self, role, /, token=None, **over):
        return self.create(API + '/users', self.user_body(role, **over), token)

    def appoint(self, manager_id, org_id, started_on='2021-09-01', token=None, expect=201):
        path = '%s/managers/%d' % (API, manager_id)
        r = self.call('POST', path + '/appointments',
                      body={'organization_id': org_id, 'started_on': started_on},
                      token=token or self.admin.token,
                      headers={'If-Match': self.etag(path)})
        assert_status(r, expect, 'appoint manager %d to organization %d' % (manager_id, org_id))
        return r.json

    # --- the database

    def sql(self, query):
        return self.c.psql(query)

    def audit_count(self):
        return int(self.sql('SELECT count(*) FROM audit_events'))

    def scope_maps(self):
        """{org: (muni, region)}, {muni: region} from the database."""
        orgs, munis = {}, {}
        for line in self.sql('SELECT id, municipality_id, region_id FROM organizations').split():
            i, m, r = (int(x) for x in line.split('|'))
            orgs[i] = (m, r)
        for line in self.sql('SELECT id, region_id FROM municipalities').split():
            i, r = (int(x) for x in line.split('|'))
            munis[i] = r
        return orgs, munis

    # --- listing

    def walk(self, path, token, limit=500, max_pages=400, **params):
        """Every item of a list, page by page via `next` (bounded); returns (items, pages)."""
        items, pages, cursor = [], 0, None
        while True:
            r = self.get(url(path, limit=limit, cursor=cursor, **params), token=token)
            assert_status(r, 200, 'GET %s %r page %d' % (path, params, pages + 1))
            doc = r.json
            if not isinstance(doc, dict) or not isinstance(doc.get('items'), list) \
                    or 'next' not in doc:
                raise AssertionError('GET %s: not {items, next}: %r' % (path, r))
            items += doc['items']
            pages += 1
            cursor = doc['next']
            if cursor is None:
                return items, pages
            if pages >= max_pages:
                raise AssertionError('GET %s %r: more than %d pages' % (path, params, max_pages))


def territory(kind, row, orgs, munis):
    """(region, municipality, organization) of a list row of the given resource kind;
    None where the row has no such level."""
    if kind == 'regions':
        return row['id'], None, None
    if kind == 'municipalities':
        return row['region_id'], row['id'], None
    if kind == 'organizations':
        return row['region_id'], row['municipality_id'], row['id']
    if kind in ('managers', 'reserve'):
        return row['region_id'], row['municipality_id'], row.get('organization_id')
    if kind == 'users':
        if row.get('organization_id'):
            m, r = orgs[row['organization_id']]
            return r, m, row['organization_id']
        if row.get('municipality_id'):
            return munis[row['municipality_id']], row['municipality_id'], None
        return row.get('region_id'), None, None
    raise ValueError(kind)


def visible(kind, caller, row, orgs, munis):
    """Whether a caller may see a list row: DESIGN §1 (scope by role), restated
    independently of the daemon's SQL."""
    role = caller.role
    if role == 'admin':
        return True
    if kind in ('directions', 'competencies'):
        return True
    reg, muni, org = territory(kind, row, orgs, munis)
    s = caller.scope
    if kind == 'users':
        if role == 'regional_operator':
            return reg is not None and reg == s['region']
        if role == 'municipal_operator':
            return muni is not None and muni == s['municipality']
        return False
    if role in ('regional_operator', 'expert', 'portal'):
        return reg == s['region']
    if role == 'municipal_operator':
        if kind == 'regions':
            return reg == s['region']
        return muni == s['municipality']
    if role == 'head':
        if kind == 'regions':
            return reg == s['region']
        if kind == 'municipalities':
            return muni == s['municipality']
        return org is not None and org == s['organization']
    return False
