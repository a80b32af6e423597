#!/usr/bin/python3
"""
test_registry.py - the registry over HTTP, resource by resource: validation errors that
name their fields, If-Match (428/412) and If-None-Match (304), Idempotency-Key replay,
concurrent appointment of two heads to one organization, reserve transitions, the
role-granting rules of users and deactivation, audit rows counted against writes,
pagination under concurrent inserts, Cyrillic case-insensitive search, and lists that
never hold a row outside the caller's scope whatever the filters.

The world (regions A and B, their municipalities, organizations, heads, reserve, users
of every role) comes from registry_fixtures.py; the daemon and PostgreSQL from harness.py.
"""
import base64
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API, PASSWORD, TODAY, assert_fields, url  # noqa: E402

THREAD_TIMEOUT = 60.0

# The list routes and the filters each one documents (src/registry/*.c).
LISTS = {
    'regions': [],
    'municipalities': ['region_id'],
    'organizations': ['region_id', 'municipality_id', 'status'],
    'managers': ['region_id', 'municipality_id', 'organization_id', 'status'],
    'reserve': ['region_id', 'municipality_id', 'status'],
    'users': ['region_id', 'municipality_id', 'organization_id', 'active'],
}
# Who may call each list route (DESIGN §1; portals see nothing personal).
LIST_ROLES = {
    'regions': rf.ROLES,
    'municipalities': rf.ROLES,
    'organizations': rf.ROLES,
    'managers': ('admin', 'regional_operator', 'municipal_operator', 'head', 'expert'),
    'reserve': ('admin', 'regional_operator', 'municipal_operator', 'expert'),
    'users': ('admin', 'regional_operator', 'municipal_operator'),
}
# The reserve's state machine (DESIGN §2): the next states of each state.
RESERVE_NEXT = {
    'nominated': ['training', 'excluded'],
    'training': ['trained', 'excluded'],
    'trained': ['included', 'excluded'],
    'included': ['appointed', 'excluded'],
    'appointed': ['excluded'],
    'excluded': [],
}
RESERVE_STATES = list(RESERVE_NEXT)


def run_threads(targets):
    """Start one thread per callable, wait (bounded), return their results in order."""
    results = [None] * len(targets)
    errors = []

    def wrap(i, fn):
        try:
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
            raise AssertionError('a request thread did not finish within %.0fs'
                                 % THREAD_TIMEOUT)
    if errors:
        raise errors[0]
    return results


class RegistryTest(harness.DaemonTestCase):
    threads = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = rf.World(cls.daemon, cls.cluster)

    # --- helpers

    def admin(self):
        return self.w.admin.token

    def tok(self, role, side='A'):
        return self.w.token(role, side)

    def post(self, path, body, token=None, headers=None):
        return self.w.call('POST', path, body=body, token=token or self.admin(),
                           headers=headers)

    def patch(self, path, body, token=None, etag=None, headers=None):
        h = dict(headers or {})
        if etag is not None:
            h['If-Match'] = etag
        return self.w.call('PATCH', path, body=body, token=token or self.admin(), headers=h)

    def refused(self, method, path, body, status, fields, token=None, headers=None):
        """A refused write: the problem names fields, and no audit row is added."""
        before = self.w.audit_count()
        r = self.w.call(method, path, body=body, token=token or self.admin(), headers=headers)
        what = '%s %s %s' % (method, path, json.dumps(body, ensure_ascii=False)[:300])
        assert_fields(r, status, fields, what)
        self.assertEqual(self.w.audit_count(), before, 'a refused write was audited: ' + what)
        return r

    # ================================================================ validation

    def test_validation_organization(self):
        w = self.w
        path = API + '/organizations'
        good = w.inn()
        bad_inn = good[:9] + str((int(good[9]) + 1) % 10)
        cases = [
            ({'inn': bad_inn}, ['inn']),             # checksum
            ({'inn': '12345'}, ['inn']),             # length
            ({'inn': '52000000ab'}, ['inn']),        # not digits
            ({'inn': 5200000000}, ['inn']),          # not a string
            ({'kind': 'university'}, ['kind']),
            ({'settlement': 'suburban'}, ['settlement']),
            ({'students': -1}, ['students']),
            ({'students': 'many'}, ['students']),
            ({'full_name': 'Ш' * 501}, ['full_name']),
            ({'short_name': ''}, ['short_name']),
            ({'director': 'Иванов'}, ['director']),  # unknown field
            ({'id': 5}, ['id']),
            ({'status': 'active'}, ['status']),
            ({'created_at': '2024-01-01T00:00:00Z'}, ['created_at']),
            ({'version': 1}, ['version']),
            ({'region_id': w.region_a}, ['region_id']),  # derived from the municipality
            ({'municipality_id': 'one'}, ['municipality_id']),
            # every error at once
            ({'inn': bad_inn, 'kind': 'university', 'id': 1, 'foo': 1},
             ['inn', 'kind', 'id', 'foo']),
        ]
        for over, fields in cases:
            self.refused('POST', path, w.organization_body(w.muni_a1, **over), 400, fields)
        body = w.organization_body(w.muni_a1)
        del body['inn']
        self.refused('POST', path, body, 400, ['inn'])
        # a municipality outside the caller's scope is named, not created in
        self.refused('POST', path, w.organization_body(w.muni_a2), 400, ['municipality_id'],
                     token=self.tok('municipal_operator'))
        self.refused('POST', path, w.organization_body(w.muni_b1), 400, ['municipality_id'],
                     token=self.tok('regional_operator'))
        # duplicate INN: 409 naming inn
        org = w.new_organization(w.muni_a1)
        self.refused('POST', path, w.organization_body(w.muni_a1, inn=org['inn']), 409, ['inn'])
        # PATCH: the same rules, and fields that are not the client's to set
        one = '%s/%d' % (path, org['id'])
        for body, fields in [({'inn': bad_inn}, ['inn']), ({'kind': 'college'}, ['kind']),
                             ({'id': 9}, ['id']), ({'created_at': TODAY}, ['created_at']),
                             ({'municipality_id': w.muni_a2}, ['municipality_id']),
                             ({'region_id': w.region_b}, ['region_id']),
                             ({'full_name': None}, ['full_name']),
                             ({'status': 'deleted'}, ['status']),
                             ({'nonsense': True}, ['nonsense'])]:
            self.refused('PATCH', one, body, 400, fields, headers={'If-Match': w.etag(one)})
        other = w.new_organization(w.muni_a1)
        self.refused('PATCH', one, {'inn': other['inn']}, 409, ['inn'],
                     headers={'If-Match': w.etag(one)})
        self.refused('PATCH', one, {}, 400, [], headers={'If-Match': w.etag(one)})

    def test_validation_municipality(self):
        w = self.w
        path = API + '/municipalities'
        for oktmo in ('1234567', '123456789', '1234567890', '1234567X', '', 'двадцать',
                      '123456789012'):
            self.refused('POST', path, w.municipality_body(w.region_a, oktmo=oktmo), 400,
                         ['oktmo'])
        self.refused('POST', path, w.municipality_body(w.region_a, oktmo=22712345), 400,
                     ['oktmo'])
        ok11 = w.create(path, w.municipality_body(w.region_a, oktmo='22%09d' % w.seq.next()))
        self.assertEqual(len(ok11['oktmo']), 11)
        self.refused('POST', path, w.municipality_body(w.region_a, oktmo=ok11['oktmo']), 409,
                     ['oktmo'])
        for over, fields in [({'name': 'М' * 201}, ['name']), ({'name': ''}, ['name']),
                             ({'region_id': 'A'}, ['region_id']), ({'region_id': 0},
                                                                  ['region_id']),
                             ({'id': 1}, ['id']), ({'created_at': TODAY}, ['created_at']),
                             ({'code': '52'}, ['code'])]:
            self.refused('POST', path, w.municipality_body(w.region_a, **over), 400, fields)
        body = w.municipality_body(w.region_a)
        del body['region_id']
        self.refused('POST', path, body, 400, ['region_id'])
        # a regional operator cannot add to another region: the field is named
        self.refused('POST', path, w.municipality_body(w.region_b), 400, ['region_id'],
                     token=self.tok('regional_operator'))
        one = '%s/%d' % (path, ok11['id'])
        for body, fields in [({'oktmo': '123'}, ['oktmo']), ({'region_id': w.region_b},
                                                             ['region_id']),
                             ({'id': 3}, ['id'])]:
            self.refused('PATCH', one, body, 400, fields, headers={'If-Match': w.etag(one)})

    def test_validation_region(self):
        w = self.w
        path = API + '/regions'
        for code in ('7', '777', 'ab', '5a', '', 52):
            self.refused('POST', path, w.region_body(code=code), 400, ['code'])
        for over, fields in [({'name': ''}, ['name']), ({'name': 'Р' * 201}, ['name']),
                             ({'id': 1}, ['id']), ({'created_at': TODAY}, ['created_at']),
                             ({'version': 2}, ['version']), ({'oktmo': '12345678'}, ['oktmo'])]:
            self.refused('POST', path, w.region_body(**over), 400, fields)
        r = w.new_region()
        self.refused('POST', path, w.region_body(code=r['code']), 409, ['code'])
        one = '%s/%d' % (path, r['id'])
        self.refused('PATCH', one, {'code': 'x1'}, 400, ['code'], headers={'If-Match':
                                                                          w.etag(one)})
        self.refused('PATCH', one, {'id': 77}, 400, ['id'], headers={'If-Match': w.etag(one)})

    def test_validation_manager(self):
        w = self.w
        path = API + '/managers'
        for over, fields in [({'position': 'boss'}, ['position']),
                             ({'email': 'not-an-email'}, ['email']),
                             ({'email': 'a@b'}, ['email']),
                             ({'phone': 'call me'}, ['phone']),
                             ({'qualification_date': '2021-02-30'}, ['qualification_date']),
                             ({'qualification_date': '01.02.2021'}, ['qualification_date']),
                             ({'full_name': 'Ф' * 301}, ['full_name']),
                             ({'full_name': ''}, ['full_name']),
                             ({'status': 'active'}, ['status']),
                             ({'organization_id': w.org_a1}, ['organization_id']),
                             ({'id': 1}, ['id']), ({'created_at': TODAY}, ['created_at'])]:
            self.refused('POST', path, w.manager_body(w.muni_a1, **over), 400, fields)
        self.refused('POST', path, w.manager_body(w.muni_b1), 400, ['municipality_id'],
                     token=self.tok('municipal_operator'))
        m = w.new_manager(w.muni_a1)
        one = '%s/%d' % (path, m['id'])
        for body, fields in [({'status': 'dismissed'}, ['status']),
                             ({'organization_id': w.org_a1}, ['organization_id']),
                             ({'municipality_id': w.muni_a2}, ['municipality_id']),
                             ({'position': 'king'}, ['position']),
                             ({'email': '@'}, ['email'])]:
            self.refused('PATCH', one, body, 400, fields, headers={'If-Match': w.etag(one)})
        # nullable fields clear
        r = self.patch(one, {'email': None, 'phone': None}, etag=w.etag(one))
        assert_status(r, 200, 'PATCH manager email/phone to null')
        self.assertIsNone(r.json['email'])

    def test_validation_reserve_competency_user(self):
        w = self.w
        path = API + '/reserve'
        for over, fields in [({'status': 'training'}, ['status']),
                             ({'exclusion_reason': 'x'}, ['exclusion_reason']),
                             ({'email': 'no'}, ['email']),
                             ({'target_position': ''}, ['target_position']),
                             ({'full_name': 'К' * 301}, ['full_name']),
                             ({'id': 1}, ['id'])]:
            self.refused('POST', path, w.reserve_body(w.muni_a1, **over), 400, fields)
        c = w.new_reserve(w.muni_a1)
        one = '%s/%d' % (path, c['id'])
        self.refused('PATCH', one, {'status': 'trained'}, 400, ['status'],
                     headers={'If-Match': w.etag(one)})
        self.refused('PATCH', one, {'municipality_id': w.muni_a2}, 400, ['municipality_id'],
                     headers={'If-Match': w.etag(one)})

        path = API + '/competencies'
        for over, fields in [({'code': 'Bad Code'}, ['code']), ({'code': '1abc'}, ['code']),
                             ({'max_score': 0}, ['max_score']), ({'max_score': 1001},
                                                                 ['max_score']),
                             ({'name': ''}, ['name']), ({'id': 2}, ['id'])]:
            self.refused('POST', path, w.competency_body(**over), 400, fields)

        path = API + '/users'
        for over, fields in [({'login': 'a b'}, ['login']), ({'login': 'ab'}, ['login']),
                             ({'password': 'short'}, ['password']),
                             ({'role': 'superuser'}, ['role']),
                             ({'active': False}, ['active']), ({'id': 4}, ['id']),
                             ({'created_at': TODAY}, ['created_at'])]:
            self.refused('POST', path, w.user_body('expert', region_id=w.region_a, **over),
                         400, fields)
        self.refused('POST', path, w.user_body('regional_operator', municipality_id=w.muni_a1),
                     400, ['region_id', 'municipality_id'])
        self.refused('POST', path, w.user_body('head'), 400, ['organization_id'])
        self.refused('POST', path, w.user_body('admin', region_id=w.region_a), 400,
                     ['region_id'])
        self.refused('POST', path, w.user_body('expert', region_id=w.region_a,
                                               manager_id=w.mgr_a1), 400, ['manager_id'])

    def test_list_parameters(self):
        w = self.w
        path = API + '/organizations'
        for params, fields in [({'limit': 0}, ['limit']), ({'limit': 501}, ['limit']),
                               ({'limit': 'ten'}, ['limit']), ({'sort': 'inn'}, ['sort']),
                               ({'cursor': 'garbage!'}, ['cursor']),
                               ({'q': 'ы' * 101}, ['q']),
                               # cp1251 «При», not UTF-8
                               ({'q': b'\xcf\xf0\xe8'}, ['q']),
                               ({'sort': 'name', 'cursor': base64.urlsafe_b64encode(
                                   b'name\n1\n\xcf\xf0\xe8').decode().rstrip('=')},
                                ['cursor']),
                               ({'kind': 'university'}, ['kind']),
                               ({'municipality_id': 'x'}, ['municipality_id']),
                               ({'limit': 0, 'sort': 'inn', 'kind': 'x'},
                                ['limit', 'sort', 'kind'])]:
            r = w.get(url(path, **params), token=self.admin())
            assert_fields(r, 400, fields, 'GET %s %r' % (path, params))
        r = w.get(path, token=self.admin())
        assert_status(r, 200, 'GET organizations')
        self.assertEqual(r.json.get('limit'), 50, 'default limit: %r' % r.json.get('limit'))
        r = w.get(url(path, limit=500), token=self.admin())
        assert_status(r, 200, 'GET organizations limit=500')
        # a cursor of one sort is refused by another
        r = w.get(url(path, limit=1), token=self.admin())
        self.assertIsNotNone(r.json['next'])
        r2 = w.get(url(path, limit=1, sort='name', cursor=r.json['next']), token=self.admin())
        assert_fields(r2, 400, ['cursor'], 'a sort=id cursor with sort=name')

    # ================================================================ If-Match, If-None-Match

    def objects(self):
        """Paths of one object of every PATCHable resource, fresh."""
        w = self.w
        return [
            API + '/regions/%d' % w.new_region()['id'],
            API + '/municipalities/%d' % w.new_municipality(w.region_a)['id'],
            API + '/organizations/%d' % w.new_organization(w.muni_a1)['id'],
            API + '/managers/%d' % w.new_manager(w.muni_a1)['id'],
            API + '/reserve/%d' % w.new_reserve(w.muni_a1)['id'],
            API + '/competencies/%d' % w.new_competency()['id'],
            API + '/users/%d' % w.new_api_user('expert', region_id=w.region_a)['id'],
        ]

    @staticmethod
    def change_for(path):
        n = str(int(time.monotonic() * 1000) % 100000)
        for part, body in (('/regions/', {'name': 'Регион ' + n}),
                           ('/municipalities/', {'name': 'Муниципалитет ' + n}),
                           ('/organizations/', {'short_name': 'Школа ' + n}),
                           ('/managers/', {'full_name': 'Руководитель ' + n}),
                           ('/reserve/', {'full_name': 'Кандидат ' + n}),
                           ('/competencies/', {'name': 'Компетенция ' + n}),
                           ('/users/', {'active': True})):
            if part in path:
                return body
        raise ValueError(path)

    def test_patch_needs_if_match(self):
        w = self.w
        for one in self.objects():
            body = self.change_for(one)
            v0 = w.version(one)
            before = w.audit_count()
            r = self.patch(one, body)
            assert_problem(r, 428, 'PATCH %s without If-Match' % one)
            r = self.patch(one, body, etag='"%d"' % (v0 + 100))
            assert_problem(r, 412, 'PATCH %s with a future ETag' % one)
            r = self.patch(one, body, etag='not-an-etag')
            assert_problem(r, 412, 'PATCH %s with a malformed If-Match' % one)
            r = self.patch(one, body, etag='"99999999999"')
            assert_problem(r, 412, 'PATCH %s with an ETag past the int range' % one)
            self.assertEqual(w.version(one), v0, 'refused PATCHes changed %s' % one)
            self.assertEqual(w.audit_count(), before, 'refused PATCHes audited: %s' % one)
            stale = w.etag(one)
            r = self.patch(one, body, etag=stale)
            assert_status(r, 200, 'PATCH %s with the current ETag' % one)
            new = r.headers.get('etag')
            self.assertTrue(new and new != stale, 'PATCH %s: ETag %r after %r' % (one, new,
                                                                                   stale))
            self.assertEqual(new, w.etag(one), 'the PATCH reply ETag is not the GET one')
            r = self.patch(one, self.change_for(one), etag=stale)
            doc = assert_problem(r, 412, 'PATCH %s with the stale ETag %s' % (one, stale))
            self.assertIn(new.strip('"'), doc['detail'], 'the 412 does not tell the ETag')
            r = self.patch(one, body, etag='W/' + new)
            assert_problem(r, 412, 'PATCH %s with a weak If-Match (compared strongly)' % one)
        # the actions on objects need If-Match too
        mgr = w.new_manager(w.muni_a1)
        org = w.new_organization(w.muni_a1)
        cand = w.new_reserve(w.muni_a1)
        for path, body, obj in [
                (API + '/managers/%d/appointments' % mgr['id'],
                 {'organization_id': org['id'], 'started_on': TODAY},
                 API + '/managers/%d' % mgr['id']),
                (API + '/managers/%d/dismissal' % mgr['id'],
                 {'dismissed_on': TODAY, 'reason': 'перевод'}, API + '/managers/%d' % mgr['id']),
                (API + '/reserve/%d/transitions' % cand['id'], {'to': 'training'},
                 API + '/reserve/%d' % cand['id'])]:
            self.refused('POST', path, body, 428, [])
            v = w.version(obj)
            self.refused('POST', path, body, 412, [], headers={'If-Match': '"%d"' % (v + 5)})
            self.assertEqual(w.version(obj), v)

    def test_conditional_get(self):
        w = self.w
        for one in self.objects() + [API + '/directions/%d' % self.direction_id()]:
            r = w.get(one, token=self.admin())
            assert_status(r, 200, 'GET ' + one)
            tag = r.headers.get('etag')
            self.assertTrue(tag and tag.startswith('"') and tag.endswith('"'),
                            'GET %s: ETag %r' % (one, tag))
            for inm in (tag, 'W/' + tag, '"x", ' + tag):
                r2 = w.get(one, token=self.admin(), headers={'If-None-Match': inm})
                assert_status(r2, 304, 'GET %s If-None-Match: %s' % (one, inm))
                self.assertEqual(r2.body, b'', 'a 304 with a body')
                self.assertEqual(r2.headers.get('etag'), tag, '304 without the ETag')
            r2 = w.get(one, token=self.admin(), headers={'If-None-Match': '"999999"'})
            assert_status(r2, 200, 'GET %s with another ETag' % one)
            if '/directions/' in one:
                continue
            assert_status(self.patch(one, self.change_for(one), etag=tag), 200, 'PATCH ' + one)
            r3 = w.get(one, token=self.admin(), headers={'If-None-Match': tag})
            assert_status(r3, 200, 'GET %s with the ETag from before a change' % one)
            self.assertNotEqual(r3.headers.get('etag'), tag)
        # out of scope: 404, not 304 (the ETag does not reveal the object)
        one = API + '/organizations/%d' % w.org_b1
        tag = w.etag(one)
        r = w.get(one, token=self.tok('regional_operator'), headers={'If-None-Match': tag})
        assert_problem(r, 404, 'GET an out-of-scope organization with its ETag')

    def direction_id(self):
        r = self.w.get(API + '/directions', token=self.admin())
        assert_status(r, 200, 'GET directions')
        self.assertEqual(len(r.json['items']), 10, 'the ten directions: %r' % r.json)
        return r.json['items'][0]['id']

    # ================================================================ Idempotency-Key

    def test_idempotent_post_replay(self):
        w = self.w
        creates = [
            (API + '/organizations', lambda: w.organization_body(w.muni_a1),
             lambda b: "SELECT count(*) FROM organizations WHERE inn = '%s'" % b['inn']),
            (API + '/managers', lambda: w.manager_body(w.muni_a1),
             lambda b: "SELECT count(*) FROM managers WHERE email = '%s'" % b['email']),
            (API + '/reserve', lambda: w.reserve_body(w.muni_a1),
             lambda b: "SELECT count(*) FROM reserve_candidates WHERE full_name = '%s'"
             % b['full_name']),
            (API + '/users', lambda: w.user_body('expert', region_id=w.region_a),
             lambda b: "SELECT count(*) FROM users WHERE login = '%s'" % b['login']),
            (API + '/municipalities', lambda: w.municipality_body(w.region_a),
             lambda b: "SELECT count(*) FROM municipalities WHERE oktmo = '%s'" % b['oktmo']),
        ]
        for path, make, count_sql in creates:
            key = 'k-%d-%s' % (w.seq.next(), path.rsplit('/', 1)[1])
            body = make()
            before = w.audit_count()
            r1 = self.post(path, body, headers={'Idempotency-Key': key})
            assert_status(r1, 201, 'POST %s with Idempotency-Key' % path)
            self.assertNotEqual(r1.headers.get('idempotent-replayed'), 'true')
            r2 = self.post(path, body, headers={'Idempotency-Key': key})
            assert_status(r2, 201, 'POST %s replayed' % path)
            self.assertEqual(r2.headers.get('idempotent-replayed'), 'true',
                             'replay without Idempotent-Replayed: true: %r' % r2)
            self.assertEqual(r2.json, r1.json, 'the replay differs from the first answer')
            self.assertEqual(r2.headers.get('location'), r1.headers.get('location'))
            self.assertEqual(r2.headers.get('etag'), r1.headers.get('etag'))
            # the same body with the keys in another order is the same request
            r3 = self.post(path, dict(reversed(list(body.items()))),
                           headers={'Idempotency-Key': key})
            assert_status(r3, 201, 'POST %s replayed, keys reordered' % path)
            self.assertEqual(r3.json['id'], r1.json['id'])
            self.assertEqual(int(w.sql(count_sql(body))), 1, 'rows for %s after replays' % path)
            self.assertEqual(w.audit_count(), before + 1, 'replays were audited: %s' % path)
            other = make()
            r4 = self.post(path, other, headers={'Idempotency-Key': key})
            assert_problem(r4, 422, 'POST %s: same key, different body' % path)
            self.assertEqual(int(w.sql(count_sql(other))), 0, 'the 422 created a row')
            self.assertEqual(w.audit_count(), before + 1)
        # the same key on another route is another request: 422
        key = 'k-cross-%d' % w.seq.next()
        assert_status(self.post(API + '/reserve', w.reserve_body(w.muni_a1),
                                headers={'Idempotency-Key': key}), 201, 'POST reserve')
        assert_problem(self.post(API + '/managers', w.manager_body(w.muni_a1),
                                 headers={'Idempotency-Key': key}), 422,
                       'the same key on another route')
        # another user's key is theirs: the same key makes a new object
        key = 'k-users-%d' % w.seq.next()
        a = self.post(API + '/reserve', w.reserve_body(w.muni_a1), headers={'Idempotency-Key':
                                                                            key})
        b = self.post(API + '/reserve', w.reserve_body(w.muni_a1),
                      token=self.tok('regional_operator'), headers={'Idempotency-Key': key})
        assert_status(a, 201, 'admin POST with key')
        assert_status(b, 201, 'regional POST with the same key')
        self.assertNotEqual(a.json['id'], b.json['id'])
        # a bad key is refused
        assert_problem(self.post(API + '/reserve', w.reserve_body(w.muni_a1),
                                 headers={'Idempotency-Key': 'x' * 201}), 400, 'a 201-char key')
        # the users' password is part of the request: another password is another body
        key = 'k-pw-%d' % w.seq.next()
        body = w.user_body('expert', region_id=w.region_a)
        assert_status(self.post(API + '/users', body, headers={'Idempotency-Key': key}), 201,
                      'POST users')
        body2 = dict(body, password=PASSWORD + 'x')
        assert_problem(self.post(API + '/users', body2, headers={'Idempotency-Key': key}), 422,
                       'same key, same user, another password')

    def test_idempotent_actions(self):
        """Appointments and reserve transitions replay too: one post, one transition."""
        w = self.w
        mgr = w.new_manager(w.muni_a1)['id']
        org = w.new_organization(w.muni_a1)['id']
        one = API + '/managers/%d' % mgr
        h = {'If-Match': w.etag(one), 'Idempotency-Key': 'appoint-%d' % mgr}
        body = {'organization_id': org, 'started_on': TODAY}
        r1 = w.call('POST', one + '/appointments', body=body, token=self.admin(), headers=h)
        assert_status(r1, 201, 'appointment with a key')
        r2 = w.call('POST', one + '/appointments', body=body, token=self.admin(), headers=h)
        assert_status(r2, 201, 'appointment replayed (with the If-Match of the first)')
        self.assertEqual(r2.headers.get('idempotent-replayed'), 'true')
        self.assertEqual(r2.json, r1.json)
        self.assertEqual(len(w.get(one + '/appointments', token=self.admin()).json['items']), 1)
        cid = w.new_reserve(w.muni_a1)['id']
        one = API + '/reserve/%d' % cid
        h = {'If-Match': w.etag(one), 'Idempotency-Key': 'move-%d' % cid}
        r1 = w.call('POST', one + '/transitions', body={'to': 'training'}, token=self.admin(),
                    headers=h)
        assert_status(r1, 200, 'transition with a key')
        r2 = w.call('POST', one + '/transitions', body={'to': 'training'}, token=self.admin(),
                    headers=h)
        assert_status(r2, 200, 'transition replayed')
        self.assertEqual(r2.headers.get('idempotent-replayed'), 'true')
        self.assertEqual(r2.json, r1.json)
        self.assertEqual(len(w.get(one + '/transitions', token=self.admin()).json['items']), 1)
        r3 = w.call('POST', one + '/transitions', body={'to': 'excluded', 'reason': 'x'},
                    token=self.admin(), headers=h)
        assert_problem(r3, 422, 'the key of a transition with another body')

    def test_idempotent_post_concurrent(self):
        w = self.w
        key = 'k-conc-%d' % w.seq.next()
        body = w.organization_body(w.muni_a1)
        before = w.audit_count()
        results = run_threads([lambda: self.post(API + '/organizations', body,
                                                 headers={'Idempotency-Key': key})] * 6)
        for r in results:
            assert_status(r, 201, 'concurrent POST with one Idempotency-Key')
        ids = {r.json['id'] for r in results}
        self.assertEqual(len(ids), 1, 'concurrent replays made %s' % sorted(ids))
        self.assertEqual(sum(r.headers.get('idempotent-replayed') == 'true' for r in results), 5)
        self.assertEqual(int(w.sql("SELECT count(*) FROM organizations WHERE inn = '%s'"
                                   % body['inn'])), 1)
        self.assertEqual(w.audit_count(), before + 1)

    # ================================================================ managers

    def appoint(self, mgr_id, org_id, started_on=TODAY, token=None, etag=None):
        one = API + '/managers/%d' % mgr_id
        return self.w.call('POST', one + '/appointments', token=token or self.admin(),
                           body={'organization_id': org_id, 'started_on': started_on},
                           headers={'If-Match': etag or self.w.etag(one)})

    def current_heads(self, org_id):
        return int(self.w.sql('SELECT count(*) FROM appointments WHERE organization_id = %d '
                              'AND ended_on IS NULL' % org_id))

    def test_concurrent_appointment(self):
        w = self.w
        for rnd in range(6):
            org = w.new_organization(w.muni_a1)['id']
            m1 = w.new_manager(w.muni_a1)['id']
            m2 = w.new_manager(w.muni_a1)['id']
            e1 = w.etag(API + '/managers/%d' % m1)
            e2 = w.etag(API + '/managers/%d' % m2)
            before = w.audit_count()
            gate = threading.Barrier(2, timeout=THREAD_TIMEOUT)

            def go(m, e, token):
                gate.wait()
                return self.appoint(m, org, token=token, etag=e)
            tokens = (self.admin(), self.tok('municipal_operator')) if rnd % 2 else \
                (self.tok('regional_operator'), self.tok('municipal_operator'))
            r1, r2 = run_threads([lambda: go(m1, e1, tokens[0]), lambda: go(m2, e2, tokens[1])])
            got = sorted([r1.status, r2.status])
            self.assertEqual(got, [201, 409], 'round %d: two heads for organization %d: %r %r'
                             % (rnd, org, r1, r2))
            loser, winner = (r1, m1), (r2, m2)
            if r1.status == 201:
                loser, winner = (r2, m2), (r1, m1)
            assert_problem(loser[0], 409, 'the second appointment')
            self.assertEqual(self.current_heads(org), 1)
            self.assertEqual(w.get(API + '/managers/%d' % winner[1], token=self.admin())
                             .json['organization_id'], org)
            lost = w.get(API + '/managers/%d' % loser[1], token=self.admin()).json
            self.assertIsNone(lost['organization_id'])
            self.assertEqual(lost['version'], 1, 'the refused appointment changed the manager')
            self.assertEqual(w.audit_count(), before + 1, 'round %d: audit rows' % rnd)

    def test_appointment_history_and_dismissal(self):
        w = self.w
        o1 = w.new_organization(w.muni_a1)['id']
        o2 = w.new_organization(w.muni_a1)['id']
        m = w.new_manager(w.muni_a1)['id']
        n = w.new_manager(w.muni_a1)['id']
        one = API + '/managers/%d' % m
        assert_status(self.appoint(m, o1, '2021-09-01'), 201, 'appoint m to o1')
        r = self.appoint(m, o2, '2022-09-01', token=self.tok('municipal_operator'))
        assert_status(r, 201, 'reappoint m to o2')
        self.assertEqual(r.json['organization_id'], o2)
        hist = w.get(one + '/appointments', token=self.tok('expert')).json['items']
        self.assertEqual([(a['organization_id'], a['started_on'], a['ended_on'])
                          for a in hist],
                         [(o1, '2021-09-01', '2022-09-01'), (o2, '2022-09-01', None)],
                         'history: %r' % hist)
        self.assertEqual(self.current_heads(o1), 0, 'the previous post is still open')
        # o2 has a head: nobody else can be appointed to it
        r = self.appoint(n, o2, '2022-10-01')
        assert_problem(r, 409, 'a second head for o2')
        # a start before the current post began
        r = self.appoint(m, o1, '2020-01-01')
        assert_fields(r, 400, ['started_on'], 'appointment dated before the current one')
        # an organization outside the caller's municipality is named
        r = self.appoint(n, w.org_a2, token=self.tok('municipal_operator'))
        assert_fields(r, 400, ['organization_id'], 'appointment to another municipality')
        # an archived organization takes no head
        o3 = w.new_organization(w.muni_a1)['id']
        p3 = API + '/organizations/%d' % o3
        assert_status(self.patch(p3, {'status': 'archived'}, etag=w.etag(p3)), 200, 'archive')
        assert_fields(self.appoint(n, o3), 400, ['organization_id'], 'appoint to archived')
        # body rules
        for body, fields in [({'started_on': TODAY}, ['organization_id']),
                             ({'organization_id': o1}, ['started_on']),
                             ({'organization_id': o1, 'started_on': '2024-13-01'},
                              ['started_on']),
                             ({'organization_id': o1, 'started_on': TODAY, 'ended_on': TODAY},
                              ['ended_on'])]:
            self.refused('POST', API + '/managers/%d/appointments' % n, body, 400, fields,
                         headers={'If-Match': w.etag(API + '/managers/%d' % n)})
        # dismissal closes the post and frees the organization
        self.refused('POST', one + '/dismissal', {'dismissed_on': TODAY}, 400, ['reason'],
                     headers={'If-Match': w.etag(one)})
        self.refused('POST', one + '/dismissal', {'dismissed_on': '2019-01-01', 'reason': 'x'},
                     400, ['dismissed_on'], headers={'If-Match': w.etag(one)})
        r = w.call('POST', one + '/dismissal', token=self.tok('municipal_operator'),
                   body={'dismissed_on': TODAY, 'reason': 'по собственному желанию'},
                   headers={'If-Match': w.etag(one)})
        assert_status(r, 200, 'dismiss m')
        self.assertEqual(r.json['status'], 'dismissed')
        self.assertIsNone(r.json['organization_id'])
        hist = w.get(one + '/appointments', token=self.admin()).json['items']
        self.assertEqual(hist[-1]['ended_on'], TODAY)
        self.assertEqual(hist[-1]['end_reason'], 'по собственному желанию')
        self.assertEqual(self.current_heads(o2), 0)
        self.refused('POST', one + '/appointments', {'organization_id': o1, 'started_on': TODAY},
                     409, [], headers={'If-Match': w.etag(one)})
        self.refused('POST', one + '/dismissal', {'dismissed_on': TODAY, 'reason': 'снова'},
                     409, [], headers={'If-Match': w.etag(one)})
        assert_status(self.appoint(n, o2, TODAY), 201, 'appoint n to the freed o2')
        # the database, not only the code, keeps one head per organization
        p = self.w.c.psql_run("INSERT INTO appointments (manager_id, organization_id, position, "
                              "started_on) VALUES (%d, %d, 'director', '2024-01-01')" % (m, o2))
        self.assertNotEqual(p.returncode, 0, 'the database accepted a second current head')
        self.assertIn('appointments_one_head', p.stderr)

    # ================================================================ reserve

    def move(self, cid, to, reason=None, token=None, etag=None):
        one = API + '/reserve/%d' % cid
        body = {'to': to}
        if reason is not None:
            body['reason'] = reason
        return self.w.call('POST', one + '/transitions', body=body, token=token or self.admin(),
                           headers={'If-Match': etag or self.w.etag(one)})

    def reserve_at(self, state):
        """A fresh candidate moved along the main path to state."""
        c = self.w.new_reserve(self.w.muni_a1)['id']
        path = ['nominated', 'training', 'trained', 'included', 'appointed']
        for to in path[1:path.index(state) + 1] if state in path else []:
            assert_status(self.move(c, to), 200, 'move %d to %s' % (c, to))
        if state == 'excluded':
            assert_status(self.move(c, 'excluded', 'отказ'), 200, 'exclude %d' % c)
        return c

    def test_reserve_transitions(self):
        w = self.w
        # the main path, each step with the ETag of the previous answer
        c = w.new_reserve(w.muni_a1, token=self.tok('municipal_operator'))
        self.assertEqual(c['status'], 'nominated')
        tag = w.etag(API + '/reserve/%d' % c['id'])
        for to in ('training', 'trained', 'included', 'appointed'):
            r = self.move(c['id'], to, token=self.tok('municipal_operator'), etag=tag)
            assert_status(r, 200, 'reserve %d -> %s' % (c['id'], to))
            self.assertEqual(r.json['status'], to)
            tag = r.headers.get('etag')
            self.assertTrue(tag, 'a transition reply without ETag')
        hist = w.get(API + '/reserve/%d/transitions' % c['id'], token=self.tok('expert'))
        assert_status(hist, 200, 'transition history')
        self.assertEqual([(t['from'], t['to']) for t in hist.json['items']],
                         [('nominated', 'training'), ('training', 'trained'),
                          ('trained', 'included'), ('included', 'appointed')])
        # every state: the illegal moves are 409 naming the allowed ones, nothing changes;
        # then exclusion with a reason where it is allowed
        for state in RESERVE_STATES:
            cid = self.reserve_at(state)
            one = API + '/reserve/%d' % cid
            allowed = RESERVE_NEXT[state]
            for to in RESERVE_STATES:
                if to in allowed:
                    continue
                v = w.version(one)
                before = w.audit_count()
                r = self.move(cid, to, reason='причина' if to == 'excluded' else None)
                doc = assert_problem(r, 409, 'reserve %s -> %s' % (state, to))
                for a in allowed:
                    self.assertIn(a, doc['detail'], '409 for %s -> %s does not name %s: %r'
                                  % (state, to, a, doc['detail']))
                if not allowed:
                    self.assertIn(state, doc['detail'])
                self.assertEqual(w.version(one), v, 'an illegal move changed the candidate')
                self.assertEqual(w.audit_count(), before, 'an illegal move was audited')
            if 'excluded' in allowed:
                r = self.move(cid, 'excluded')
                assert_fields(r, 400, ['reason'], 'exclusion without a reason')
                r = self.move(cid, 'excluded', reason='не прошёл обучение')
                assert_status(r, 200, 'exclude from %s' % state)
                self.assertEqual(r.json['status'], 'excluded')
                self.assertEqual(r.json['exclusion_reason'], 'не прошёл обучение')
                hist = w.get(one + '/transitions', token=self.admin()).json['items']
                self.assertEqual((hist[-1]['from'], hist[-1]['to'], hist[-1]['reason']),
                                 (state, 'excluded', 'не прошёл обучение'))
        cid = self.reserve_at('nominated')
        for body, fields in [({'to': 'promoted'}, ['to']), ({}, ['to']),
                             ({'to': 'training', 'when': TODAY}, ['when']),
                             ({'to': 'excluded', 'reason': ''}, ['reason'])]:
            self.refused('POST', API + '/reserve/%d/transitions' % cid, body, 400, fields,
                         headers={'If-Match': w.etag(API + '/reserve/%d' % cid)})
        # out of scope: 404 for a municipal operator of another municipality
        cid = w.new_reserve(w.muni_a2)['id']
        self.assertEqual(self.move(cid, 'training', token=self.tok('municipal_operator'),
                                   etag=w.etag(API + '/reserve/%d' % cid)).status, 404)

    # ================================================================ users

    def test_user_role_rules(self):
        w = self.w
        path = API + '/users'
        reg, mun = self.tok('regional_operator'), self.tok('municipal_operator')
        # a regional operator: anything but admin, inside its region
        self.refused('POST', path, w.user_body('admin'), 403, [], token=reg)
        for role, scope in (('regional_operator', {'region_id': w.region_a}),
                            ('expert', {'region_id': w.region_a}),
                            ('portal', {'region_id': w.region_a}),
                            ('municipal_operator', {'municipality_id': w.muni_a2}),
                            ('head', {'organization_id': w.org_a2, 'manager_id': w.mgr_a2})):
            r = self.post(path, w.user_body(role, **scope), token=reg)
            assert_status(r, 201, 'regional creates %s' % role)
            self.assertEqual(r.json['role'], role)
            self.assertNotIn('password', r.json)
            self.assertNotIn('password_hash', r.json)
        for role, scope, field in (('regional_operator', {'region_id': w.region_b}, 'region_id'),
                                   ('municipal_operator', {'municipality_id': w.muni_b1},
                                    'municipality_id'),
                                   ('head', {'organization_id': w.org_b1}, 'organization_id')):
            self.refused('POST', path, w.user_body(role, **scope), 400, [field], token=reg)
        # a municipal operator: heads of its own organizations only
        r = self.post(path, w.user_body('head', organization_id=w.org_a1, manager_id=w.mgr_a1),
                      token=mun)
        assert_status(r, 201, 'municipal creates a head of its organization')
        for role, scope in (('admin', {}), ('regional_operator', {'region_id': w.region_a}),
                            ('municipal_operator', {'municipality_id': w.muni_a1}),
                            ('expert', {'region_id': w.region_a}),
                            ('portal', {'region_id': w.region_a})):
            self.refused('POST', path, w.user_body(role, **scope), 403, [], token=mun)
        self.refused('POST', path, w.user_body('head', organization_id=w.org_a2), 400,
                     ['organization_id'], token=mun)
        self.refused('POST', path, w.user_body('head', organization_id=w.org_b1), 400,
                     ['organization_id'], token=mun)
        # the manager must head that organization
        self.refused('POST', path, w.user_body('head', organization_id=w.org_a1,
                                               manager_id=w.mgr_a1b), 400, ['manager_id'],
                     token=mun)
        for role in ('head', 'expert', 'portal'):
            self.refused('POST', path, w.user_body('head', organization_id=w.org_a1), 403, [],
                         token=self.tok(role))
        # changing an account is granting it again
        peer = w.cli_user('municipal_operator', w.region_a, w.muni_a1, None)
        one = '%s/%d' % (path, peer.id)
        self.refused('PATCH', one, {'active': False}, 403, [], token=mun,
                     headers={'If-Match': w.etag(one)})
        one = '%s/%d' % (path, w.admin.id)
        self.refused('PATCH', one, {'active': False}, 404, [], token=reg,
                     headers={'If-Match': w.etag(one)})
        head = w.user('head', 'A')
        one = '%s/%d' % (path, head.id)
        for body, fields in [({'role': 'admin'}, ['role']), ({'login': 'other'}, ['login']),
                             ({'organization_id': w.org_a1b}, ['organization_id']),
                             ({'region_id': w.region_b}, ['region_id']),
                             ({'password_hash': 'x'}, ['password_hash']),
                             ({'password': 'short'}, ['password'])]:
            self.refused('PATCH', one, body, 400, fields, token=reg,
                         headers={'If-Match': w.etag(one)})
        # nobody deactivates themselves
        me = '%s/%d' % (path, w.user('regional_operator').id)
        self.refused('PATCH', me, {'active': False}, 409, [], token=reg,
                     headers={'If-Match': w.etag(me)})
        # a password never leaves the daemon, not even hashed
        listed = w.walk(path, self.admin())[0]
        self.assertTrue(all('password' not in json.dumps(u) for u in listed))
        rows = w.sql("SELECT count(*) FROM audit_events WHERE entity = 'user' AND "
                     "(before::text LIKE '%argon2%' OR after::text LIKE '%argon2%')")
        self.assertEqual(int(rows), 0, 'a password hash in the audit trail')

    def test_user_deactivation(self):
        w = self.w
        mun = self.tok('municipal_operator')
        body = w.user_body('head', organization_id=w.org_a1)
        r = self.post(API + '/users', body, token=mun)
        assert_status(r, 201, 'create a head')
        one = API + '/users/%d' % r.json['id']
        tok = w.d.login(body['login'], PASSWORD)
        for _ in range(8):  # kept by the worker threads
            assert_status(w.get(API + '/auth/me', token=tok), 200, 'the new head signs in')
        r = self.patch(one, {'active': False}, token=mun, etag=w.etag(one))
        assert_status(r, 200, 'deactivate')
        self.assertIs(r.json['active'], False)
        r = w.d.login_response(body['login'], PASSWORD)
        assert_problem(r, 401, 'login of a deactivated user')
        # its tokens stop working at once: the deactivating commit announced the change to
        # this daemon before it answered, so no worker thread answers from the old row
        for i in range(8):
            r = w.get(API + '/organizations', token=tok)
            assert_problem(r, 401, 'a deactivated head\'s token (#%d)' % i)
        # not deleted: the admin still reads it, and it can be reactivated
        r = w.get(one, token=self.admin())
        assert_status(r, 200, 'the deactivated user is still there')
        assert_status(self.patch(one, {'active': True}, token=mun, etag=w.etag(one)), 200,
                      'reactivate')
        self.assertTrue(w.d.login(body['login'], PASSWORD))
        self.assertEqual(self.w.call('DELETE', one, token=self.admin()).status, 405,
                         'users are deactivated, never deleted')

    # ================================================================ audit

    def test_audit_rows_equal_writes(self):
        w = self.w
        reg, mun, head = (self.tok('regional_operator'), self.tok('municipal_operator'),
                          self.tok('head'))
        org = w.new_organization(w.muni_a1)
        po = API + '/organizations/%d' % org['id']
        mgr = w.new_manager(w.muni_a1)
        pm = API + '/managers/%d' % mgr['id']
        cand = w.new_reserve(w.muni_a1)
        pc = API + '/reserve/%d' % cand['id']
        start = int(w.sql('SELECT coalesce(max(id), 0) FROM audit_events'))
        before = w.audit_count()
        expected = []  # (entity, action) of every write that must succeed

        def write(method, path, body, status, token=None, headers=None, audit=None):
            r = w.call(method, path, body=body, token=token or self.admin(), headers=headers)
            assert_status(r, status, '%s %s' % (method, path))
            if audit:
                expected.append(audit)
            return r

        # successes
        write('PATCH', po, {'students': 812}, 200, reg, {'If-Match': w.etag(po)},
              ('organization', 'update'))
        body = w.organization_body(w.muni_a1)
        r = write('POST', API + '/organizations', body, 201, mun, {'Idempotency-Key': 'aud-1'},
                  ('organization', 'create'))
        write('POST', API + '/organizations', body, 201, mun, {'Idempotency-Key': 'aud-1'})
        write('POST', pm + '/appointments', {'organization_id': r.json['id'],
                                             'started_on': TODAY}, 201, mun,
              {'If-Match': w.etag(pm)}, ('manager', 'appoint'))
        write('PATCH', pm, {'phone': '+7 831 000-00-00'}, 200, mun, {'If-Match': w.etag(pm)},
              ('manager', 'update'))
        write('POST', pc + '/transitions', {'to': 'training'}, 200, reg,
              {'If-Match': w.etag(pc)}, ('reserve_candidate', 'transition'))
        write('PATCH', pc, {'training_programme': 'Школа управленцев'}, 200, mun,
              {'If-Match': w.etag(pc)}, ('reserve_candidate', 'update'))
        write('POST', API + '/municipalities', w.municipality_body(w.region_a), 201, reg,
              None, ('municipality', 'create'))
        r = write('POST', API + '/users', w.user_body('head', organization_id=w.org_a1), 201,
                  mun, None, ('user', 'create'))
        pu = API + '/users/%d' % r.json['id']
        write('PATCH', pu, {'password': 'another-pass-2'}, 200, mun, {'If-Match': w.etag(pu)},
              ('user', 'update'))
        write('POST', API + '/competencies', w.competency_body(), 201, None, None,
              ('competency', 'create'))
        write('POST', pm + '/dismissal', {'dismissed_on': TODAY, 'reason': 'перевод'}, 200, reg,
              {'If-Match': w.etag(pm)}, ('manager', 'dismiss'))
        # failures add nothing
        write('PATCH', po, {'students': 1}, 412, reg, {'If-Match': '"1"'})
        write('PATCH', po, {'students': 1}, 428, reg)
        write('PATCH', po, {'students': -1}, 400, reg, {'If-Match': w.etag(po)})
        write('PATCH', po, {'students': 1}, 403, head, {'If-Match': w.etag(po)})
        write('PATCH', API + '/organizations/%d' % w.org_b1, {'students': 1}, 404, reg,
              {'If-Match': w.etag(API + '/organizations/%d' % w.org_b1)})
        write('POST', API + '/organizations', w.organization_body(w.muni_a1, inn=org['inn']),
              409, reg)
        write('POST', API + '/organizations', dict(body, short_name='другая'), 422, mun,
              {'Idempotency-Key': 'aud-1'})
        write('POST', pc + '/transitions', {'to': 'appointed'}, 409, reg,
              {'If-Match': w.etag(pc)})
        write('POST', pm + '/dismissal', {'dismissed_on': TODAY, 'reason': 'ещё раз'}, 409, reg,
              {'If-Match': w.etag(pm)})
        write('POST', API + '/users', w.user_body('admin'), 403, reg)
        write('POST', API + '/regions', w.region_body(), 403, reg)
        write('GET', po, None, 200, reg)

        rows = w.sql('SELECT entity, action, actor_user_id, actor_role, entity_id IS NOT NULL, '
                     'after IS NOT NULL, request_id IS NOT NULL FROM audit_events '
                     'WHERE id > %d ORDER BY id' % start).splitlines()
        self.assertEqual(w.audit_count() - before, len(expected),
                         'audit rows %r for the writes %r' % (rows, expected))
        self.assertEqual([tuple(x.split('|')[:2]) for x in rows], [tuple(e) for e in expected],
                         'the audit rows are not the writes, in order')
        for x in rows:
            f = x.split('|')
            self.assertTrue(f[2] and f[3], 'an audit row without its actor: %s' % x)
            self.assertEqual(f[4:], ['t', 't', 't'], 'an audit row without id/after/request: '
                             + x)
        # the updates keep the row before and after
        ba = w.sql("SELECT before->>'students', after->>'students' FROM audit_events "
                   "WHERE id > %d AND entity = 'organization' AND action = 'update'" % start)
        self.assertEqual(ba, '%s|812' % org['students'])

        # GET /audit: filtered by entity and id, scoped
        q = url(API + '/audit', entity='organization', entity_id=org['id'])
        for token, want in ((self.admin(), 2), (reg, 2), (self.tok('regional_operator', 'B'),
                                                          0)):
            r = w.get(q, token=token)
            assert_status(r, 200, 'GET ' + q)
            self.assertEqual(len(r.json['items']), want, 'audit of org %d: %r' % (org['id'],
                                                                                  r.json))
            for it in r.json['items']:
                self.assertEqual((it['entity'], it['entity_id']), ('organization', org['id']))
        items = w.walk(API + '/audit', reg, limit=100)[0]
        ids = [it['id'] for it in items]
        self.assertEqual(ids, sorted(ids, reverse=True), 'the audit is not newest first')
        self.assertEqual(len(ids), len(set(ids)))
        outside = w.sql('SELECT id FROM audit_events WHERE region_id IS DISTINCT FROM %d'
                        % w.region_a).split()
        leaked = set(ids) & {int(x) for x in outside}
        self.assertEqual(leaked, set(), 'a regional operator sees audit rows of elsewhere')

    # ================================================================ lists

    def test_pagination_under_concurrent_inserts(self):
        w = self.w
        muni = w.new_municipality(w.region_a, name='Город пагинации')['id']
        names = ['Берёзка', 'Яблонька', 'Ёлочка', 'Аист', 'Школа', 'Лицей', 'Гимназия',
                 'Звёздочка', 'Радуга', 'Солнышко', 'Юность', 'Ивушка']
        initial = set()
        for i in range(120):
            # repeated names: the keyset must break ties by id
            o = w.new_organization(muni, short_name='%s %d' % (names[i % len(names)], i % 9))
            initial.add(o['id'])
        stop = threading.Event()
        inserted = []
        insert_errors = []

        def inserter():
            i = 0
            while not stop.is_set() and i < 400:
                try:
                    o = w.new_organization(muni, short_name='%s новый %d'
                                           % (names[(i * 7) % len(names)], i))
                    inserted.append(o['id'])
                except BaseException as e:
                    insert_errors.append(e)
                    return
                i += 1
        t = threading.Thread(target=inserter, daemon=True)
        t.start()
        try:
            for sort, token in (('id', self.admin()), ('name', self.admin()),
                                ('id', self.tok('regional_operator')),
                                ('name', self.tok('regional_operator'))):
                items, pages = w.walk(API + '/organizations', token, limit=7, max_pages=200,
                                      municipality_id=muni, sort=sort)
                ids = [it['id'] for it in items]
                dup = sorted({i for i in ids if ids.count(i) > 1})
                self.assertEqual(dup, [], 'sort=%s: rows seen twice' % sort)
                missing = sorted(initial - set(ids))
                self.assertEqual(missing, [], 'sort=%s: rows missed' % sort)
                self.assertGreaterEqual(pages, 120 // 7)
                self.assertTrue(all(it['municipality_id'] == muni for it in items))
                if sort == 'id':
                    self.assertEqual(ids, sorted(ids), 'sort=id is not by id')
                else:
                    self.assert_collated(items)
        finally:
            stop.set()
            t.join(THREAD_TIMEOUT)
        self.assertFalse(t.is_alive(), 'the inserter did not stop')
        self.assertEqual(insert_errors, [])
        self.assertGreater(len(inserted), 0, 'nothing was inserted during the walks')
        # at rest, a walk returns exactly the rows of the table
        items, _ = w.walk(API + '/organizations', self.admin(), limit=7, max_pages=200,
                          municipality_id=muni, sort='name')
        db = {int(x) for x in w.sql('SELECT id FROM organizations WHERE municipality_id = %d'
                                    % muni).split()}
        self.assertEqual(sorted(it['id'] for it in items), sorted(db))

    def assert_collated(self, items):
        """items are in (short_name COLLATE "ru-x-icu", id) order, as PostgreSQL sorts."""
        rows = ', '.join("(%d, %d)" % (i, it['id']) for i, it in enumerate(items))
        out = self.w.sql('SELECT string_agg(o.id::text, \',\' ORDER BY o.short_name '
                         'COLLATE "ru-x-icu", o.id) FROM (VALUES %s) v(n, id) '
                         'JOIN organizations o ON o.id = v.id' % rows)
        self.assertEqual([it['id'] for it in items], [int(x) for x in out.split(',')],
                         'sort=name is not the Russian collation order')

    def test_long_names_paginate(self):
        """A cursor carries the last name: names at the maximum length (Cyrillic, two bytes
        a character) must page like short ones."""
        w = self.w
        for length in (250, 260, 300):
            muni = w.new_municipality(w.region_a)['id']
            for i in range(3):
                name = ('Щ' * (length - 2)) + ' %d' % i
                w.new_manager(muni, full_name=name)
                w.new_reserve(muni, full_name=name)
            for path in (API + '/managers', API + '/reserve'):
                with self.subTest(path=path, length=length):
                    items, _ = w.walk(path, self.admin(), limit=1, max_pages=20,
                                      municipality_id=muni, sort='name')
                    self.assertEqual(sorted(len(it['full_name']) for it in items),
                                     [length] * 3)
        muni = w.new_municipality(w.region_a)['id']
        for i in range(3):
            w.new_organization(muni, short_name=('Ю' * 198) + ' %d' % i)
        items, _ = w.walk(API + '/organizations', self.admin(), limit=1, max_pages=20,
                          municipality_id=muni, sort='name')
        self.assertEqual(len(items), 3)

    def test_q_search_cyrillic(self):
        w = self.w
        muni = w.new_municipality(w.region_a, name='Саровский округ')['id']
        hits = {w.new_organization(muni, short_name=n)['id']
                for n in ('Саровская гимназия', 'САРОВСКИЙ ЛИЦЕЙ', 'Школа №5 г. Сарова')}
        miss = w.new_organization(muni, short_name='Арзамасская школа')['id']
        for q in ('сар', 'САР', 'Сар', 'сАр', 'саровск'):
            items, _ = w.walk(API + '/organizations', self.admin(), q=q, municipality_id=muni)
            got = {it['id'] for it in items}
            want = hits if q != 'саровск' else hits - {max(hits)}
            self.assertEqual(got & (hits | {miss}), want, 'q=%s: %r' % (q, items))
        # managers, municipalities and the reserve search their names the same way
        m = w.new_manager(muni, full_name='Сарычев Ёжик Ёлкин')['id']
        for q in ('сарычев', 'ЁЖИК', 'ёлкин'):
            items, _ = w.walk(API + '/managers', self.admin(), q=q)
            self.assertIn(m, {it['id'] for it in items}, 'managers q=%s' % q)
        items, _ = w.walk(API + '/municipalities', self.admin(), q='САРОВСКИЙ')
        self.assertIn(muni, {it['id'] for it in items})
        # search stays inside the scope
        items, _ = w.walk(API + '/organizations', self.tok('municipal_operator', 'B'), q='сар')
        self.assertEqual(items, [], 'q found rows outside the scope')

    def test_q_search_is_literal(self):
        """q is text, not a LIKE pattern: % and _ match themselves."""
        w = self.w
        muni = w.new_municipality(w.region_a)['id']
        w.new_organization(muni, short_name='Школа полного дня')
        pct = w.new_organization(muni, short_name='Школа 100% успеха')['id']
        for q, want in (('%', {pct}), ('_', set()), ('0%', {pct})):
            items, _ = w.walk(API + '/organizations', self.admin(), q=q, municipality_id=muni)
            self.assertEqual({it['id'] for it in items}, want,
                             'GET /organizations?q=%s&municipality_id=%d' % (q, muni))

    def test_lists_stay_in_scope(self):
        w = self.w
        orgs, munis = w.scope_maps()
        filter_values = {
            'region_id': [w.region_a, w.region_b],
            'municipality_id': [w.muni_a1, w.muni_a2, w.muni_b1],
            'organization_id': [w.org_a1, w.org_a1b, w.org_b1],
            'active': ['true'],
        }
        statuses = {'organizations': 'active', 'managers': 'active', 'reserve': 'nominated'}
        checked = 0
        for side in ('A', 'B'):
            for role in rf.ROLES:
                caller = w.user(role, side)
                for kind, filters in LISTS.items():
                    path = API + '/' + kind
                    if role not in LIST_ROLES[kind]:
                        assert_problem(w.get(path, token=caller.token), 403,
                                       'GET %s as %s' % (path, role))
                        continue
                    combos = [{}] + [{f: v} for f in filters if f != 'status'
                                     for v in filter_values[f]]
                    if 'status' in filters:
                        combos.append({'status': statuses[kind]})
                    if 'municipality_id' in filters and 'region_id' in filters:
                        combos.append({'region_id': w.region_a, 'municipality_id': w.muni_b1})
                    for params in combos:
                        got, _ = w.walk(path, caller.token, **params)
                        everything, _ = w.walk(path, self.admin(), **params)
                        want = {r['id'] for r in everything
                                if rf.visible(kind, caller, r, orgs, munis)}
                        ids = [r['id'] for r in got]
                        what = 'GET %s %r as %s of %s' % (path, params, role, side)
                        leaked = [r for r in got if not rf.visible(kind, caller, r, orgs,
                                                                   munis)]
                        self.assertEqual(leaked, [], what + ': rows outside the scope')
                        self.assertEqual(len(ids), len(set(ids)), what + ': duplicates')
                        self.assertEqual(set(ids), want, what + ': not every row in scope')
                        checked += 1
        # a municipal operator asking for another municipality gets an empty list
        r = w.get(url(API + '/organizations', municipality_id=w.muni_a2),
                  token=self.tok('municipal_operator'))
        assert_status(r, 200, 'municipal operator, municipality_id of another')
        self.assertEqual(r.json['items'], [])
        self.assertGreater(checked, 100)

    def test_nothing_is_deleted(self):
        """Objects with history are archived or deactivated: DELETE is not a method here."""
        w = self.w
        for path in ('/organizations/%d' % w.org_a1b, '/managers/%d' % w.mgr_a1b,
                     '/reserve/%d' % w.res_a2, '/users/%d' % w.user('expert').id,
                     '/municipalities/%d' % w.muni_a2, '/regions/%d' % w.region_a):
            r = w.call('DELETE', API + path, token=self.admin())
            assert_problem(r, 405, 'DELETE ' + path)
            self.assertIn('GET', r.headers.get('allow', ''), 'DELETE %s: Allow %r'
                          % (path, r.headers.get('allow')))
        org = w.new_organization(w.muni_a1)
        one = API + '/organizations/%d' % org['id']
        r = self.patch(one, {'status': 'archived'}, etag=w.etag(one))
        assert_status(r, 200, 'archive an organization')
        self.assertEqual(r.json['status'], 'archived')
        items, _ = w.walk(API + '/organizations', self.admin(), status='archived',
                          municipality_id=w.muni_a1)
        self.assertIn(org['id'], {it['id'] for it in items})
        items, _ = w.walk(API + '/organizations', self.admin(), status='active',
                          municipality_id=w.muni_a1)
        self.assertNotIn(org['id'], {it['id'] for it in items})

    def test_out_of_scope_is_missing(self):
        """An object outside the scope answers exactly like one that does not exist."""
        w = self.w
        reg = self.tok('regional_operator')
        for kind, oid in (('organizations', w.org_b1), ('managers', w.mgr_b1),
                          ('reserve', w.res_b1), ('municipalities', w.muni_b1),
                          ('regions', w.region_b), ('users', w.user('head', 'B').id)):
            a = w.get('%s/%s/%d' % (API, kind, oid), token=reg)
            b = w.get('%s/%s/%d' % (API, kind, 10 ** 9), token=reg)
            da = assert_problem(a, 404, 'GET out-of-scope ' + kind)
            db = assert_problem(b, 404, 'GET missing ' + kind)
            self.assertEqual((da['type'], da['title']), (db['type'], db['title']))
            self.assertEqual(da['detail'].replace(str(oid), 'N'),
                             db['detail'].replace(str(10 ** 9), 'N'))
            self.assertNotIn('etag', a.headers)
        # a head sees its own organization and manager, not its neighbour's
        head = self.tok('head')
        assert_status(w.get(API + '/organizations/%d' % w.org_a1, token=head), 200, 'own org')
        assert_problem(w.get(API + '/organizations/%d' % w.org_a1b, token=head), 404,
                       'head reads the neighbour organization')
        assert_problem(w.get(API + '/managers/%d' % w.mgr_a1b, token=head), 404,
                       'head reads the neighbour manager')
        assert_problem(w.get(API + '/municipalities/%d' % w.muni_a2, token=head), 404,
                       'head reads another municipality')
        assert_problem(w.get(API + '/organizations/%d' % w.org_a2,
                             token=self.tok('municipal_operator')), 404,
                       'municipal operator reads an organization of another municipality')
        # writes on a neighbour's objects: 404 as well, and nothing changes
        mun = self.tok('municipal_operator')
        for one, body in ((API + '/organizations/%d' % w.org_a2, {'students': 1}),
                          (API + '/managers/%d' % w.mgr_a2, {'phone': '+7 000 000-00-00'}),
                          (API + '/reserve/%d' % w.res_a2, {'full_name': 'Чужой'})):
            v = w.version(one)
            self.refused('PATCH', one, body, 404, [], token=mun,
                         headers={'If-Match': w.etag(one)})
            self.assertEqual(w.version(one), v)
        one = API + '/managers/%d' % w.mgr_a2
        self.refused('POST', one + '/dismissal', {'dismissed_on': TODAY, 'reason': 'x'}, 404,
                     [], token=mun, headers={'If-Match': w.etag(one)})


if __name__ == '__main__':
    harness.main()
