#!/usr/bin/python3
"""
test_auth.py - POST /api/v1/auth/token and GET /api/v1/auth/me: login, identical
failures, validation, throttling, and token verification (algorithm pinning,
signature, time claims, iss/aud, role/scope against the user row, deactivation).
"""
import os
import hashlib
import hmac
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (assert_problem, assert_retry_after, assert_status, b64url_decode,  # noqa
                     b64url_json, unsigned_token)

import jwt  # noqa: E402

ME = '/api/v1/auth/me'
TOKEN = '/api/v1/auth/token'
PASSWORD = 'correct horse battery'
TTL = 600


class AuthTest(harness.DaemonTestCase):
    daemon_env = {'EFFMON_LOGIN_MAX_FAILURES': '3', 'EFFMON_LOGIN_LOCK_SECONDS': '900',
                  'EFFMON_TOKEN_TTL': str(TTL)}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.daemon
        cls.admin_id = d.create_user('root', 'admin', PASSWORD)
        cls.alice_id = d.create_user('alice', 'admin', PASSWORD)
        cls.s1 = cls.cluster.add_scope()
        cls.s2 = cls.cluster.add_scope()
        cls.R1, cls.R2 = cls.s1['region'], cls.s2['region']
        cls.reg_id = d.create_user('reg', 'regional_operator', PASSWORD, region=cls.R1)
        cls.issued = []  # every token the daemon issued, to check the log never holds one

    def new_user(self, login, role='admin', **scope):
        return self.daemon.create_user(login, role, PASSWORD, **scope)

    def me(self, token, **kw):
        return self.daemon.request('GET', ME, token=token, **kw)

    def assertUnauthorized(self, r, what, invalid_token=True):
        assert_problem(r, 401, what)
        www = r.headers.get('www-authenticate')
        self.assertIsNotNone(www, 'no WWW-Authenticate on 401: %s -> %r' % (what, r))
        self.assertTrue(www.startswith('Bearer'), 'WWW-Authenticate %r: %s' % (www, what))
        if invalid_token:
            self.assertIn('error="invalid_token"', www, '%s -> %r' % (what, r))

    def assertTokenRejected(self, token, what):
        r = self.me(token)
        self.assertUnauthorized(r, 'GET %s with %s' % (ME, what))

    def assertTokenAccepted(self, token, what, user_id=None):
        r = self.me(token)
        assert_status(r, 200, 'GET %s with %s' % (ME, what))
        if user_id is not None:
            self.assertEqual(r.json.get('id'), user_id, '%s -> %r' % (what, r))

    # ----------------------------------------------------------------- login

    def test_login_success_and_me(self):
        r = self.daemon.login_response('root', PASSWORD)
        assert_status(r, 200, 'POST %s root/correct' % TOKEN)
        self.assertTrue(r.headers.get('content-type', '').startswith('application/json'), r)
        self.assertTrue(r.headers.get('x-request-id'), r)
        body = r.json
        self.assertIsInstance(body, dict, r)
        self.assertEqual(body.get('token_type'), 'Bearer', r)
        self.assertEqual(body.get('expires_in'), TTL, r)
        tok = body['access_token']
        self.issued.append(tok)
        # the token is HS256, with the documented claims
        hdr = jwt.get_unverified_header(tok)
        self.assertEqual(hdr.get('alg'), 'HS256', hdr)
        claims = jwt.decode(tok, self.daemon.secret, algorithms=['HS256'], audience='effmon',
                            issuer='effmon')
        self.assertEqual(claims['sub'], str(self.admin_id), claims)
        self.assertIsInstance(claims['sub'], str, claims)
        self.assertEqual(claims['role'], 'admin', claims)
        for k in ('iat', 'exp', 'jti'):
            self.assertIn(k, claims)
        self.assertIsInstance(claims['exp'], int, claims)
        self.assertEqual(claims['exp'] - claims['iat'], TTL, claims)
        self.assertLessEqual(abs(claims['iat'] - time.time()), 5, claims)
        for k in ('region_id', 'municipality_id', 'organization_id'):
            self.assertNotIn(k, claims, 'admin token carries a scope claim: %r' % claims)
        # /auth/me
        r = self.me(tok)
        assert_status(r, 200, 'GET %s with a login token' % ME)
        self.assertTrue(r.headers.get('content-type', '').startswith('application/json'), r)
        expect = {'id': self.admin_id, 'login': 'root', 'role': 'admin', 'region_id': None,
                  'municipality_id': None, 'organization_id': None, 'manager_id': None,
                  'active': True}
        for k, v in expect.items():
            self.assertIn(k, r.json, 'GET /auth/me lacks %r: %r' % (k, r))
            self.assertEqual(r.json[k], v, 'GET /auth/me %r: %r' % (k, r))
        for k in r.json:
            self.assertNotIn('password', k, 'GET /auth/me leaks %r' % k)

    def test_login_scoped_user_and_me(self):
        r = self.daemon.login_response('reg', PASSWORD)
        assert_status(r, 200, 'POST %s reg' % TOKEN)
        tok = r.json['access_token']
        self.issued.append(tok)
        claims = jwt.decode(tok, self.daemon.secret, algorithms=['HS256'], audience='effmon')
        self.assertEqual(claims.get('role'), 'regional_operator', claims)
        self.assertEqual(claims.get('region_id'), self.R1, claims)
        self.assertNotIn('municipality_id', claims)
        self.assertNotIn('organization_id', claims)
        r = self.me(tok)
        assert_status(r, 200, 'GET /auth/me as reg')
        self.assertEqual((r.json['id'], r.json['login'], r.json['role'], r.json['region_id'],
                          r.json['municipality_id'], r.json['organization_id']),
                         (self.reg_id, 'reg', 'regional_operator', self.R1, None, None), r)

    def test_wrong_password_and_unknown_login_identical(self):
        wrong, unknown = [], []
        bodies = []
        # 6 samples each, interleaved; 2 attempts per user stay below
        # EFFMON_LOGIN_MAX_FAILURES=3; unknown logins are all distinct
        for u in range(3):
            self.new_user('timing%d' % u, 'admin')
        for i in range(6):
            r1 = self.daemon.login_response('timing%d' % (i // 2), 'wrong-password-%d' % i)
            r2 = self.daemon.login_response('nobody-%d-%d' % (os.getpid(), i), 'whatever-123')
            d1 = assert_problem(r1, 401, 'POST %s wrong password' % TOKEN)
            d2 = assert_problem(r2, 401, 'POST %s unknown login' % TOKEN)
            wrong.append(r1.elapsed)
            unknown.append(r2.elapsed)
            d1.pop('request_id', None)
            d2.pop('request_id', None)
            bodies.append((d1, d2))
            self.assertNotEqual(r1.headers['x-request-id'], r2.headers['x-request-id'])
        for d1, d2 in bodies:
            self.assertEqual(d1, d2, 'wrong password and unknown login differ')
        self.assertEqual(bodies[0][0], bodies[2][0])
        mw, mu = statistics.median(wrong), statistics.median(unknown)
        # same work either way: a dummy hash for an unknown login
        self.assertLess(abs(mw - mu), max(0.5 * max(mw, mu), 0.025),
                        'timing differs: wrong password %.3fs vs unknown login %.3fs (%r / %r)'
                        % (mw, mu, wrong, unknown))

    def test_login_inactive_user_same_as_wrong(self):
        uid = self.new_user('gone', 'admin')
        self.cluster.psql('UPDATE users SET active = false WHERE id = %d' % uid)
        r = self.daemon.login_response('gone', PASSWORD)
        d = assert_problem(r, 401, 'POST %s inactive user, right password' % TOKEN)
        r2 = self.daemon.login_response('nobody-gone', PASSWORD)
        d2 = assert_problem(r2, 401, 'POST %s unknown login' % TOKEN)
        d.pop('request_id', None)
        d2.pop('request_id', None)
        self.assertEqual(d, d2)

    def _validation(self, body, fields, what):
        r = self.daemon.request('POST', TOKEN, body=body,
                                headers={'Content-Type': 'application/json'})
        doc = assert_problem(r, 400, 'POST %s %s' % (TOKEN, what))
        self.assertIn('errors', doc, '400 without errors[]: %s -> %r' % (what, r))
        self.assertIsInstance(doc['errors'], list, r)
        got = set()
        for e in doc['errors']:
            self.assertIsInstance(e, dict, r)
            self.assertIsInstance(e.get('field'), str, r)
            self.assertIsInstance(e.get('message'), str, r)
            got.add(e['field'])
        self.assertEqual(got, set(fields), '%s: errors[].field %r, expected %r: %r'
                         % (what, got, fields, r))

    def test_validation_missing_password(self):
        self._validation({'login': 'root'}, ['password'], 'missing password')

    def test_validation_missing_login(self):
        self._validation({'password': PASSWORD}, ['login'], 'missing login')

    def test_validation_both_missing(self):
        self._validation({}, ['login', 'password'], 'empty object')

    def test_validation_wrong_types(self):
        self._validation({'login': 5, 'password': PASSWORD}, ['login'], 'login a number')
        self._validation({'login': 'root', 'password': ['x']}, ['password'], 'password a list')
        self._validation({'login': None, 'password': True}, ['login', 'password'],
                         'null and boolean')

    def test_validation_unknown_field(self):
        self._validation({'login': 'root', 'password': PASSWORD, 'remember': True},
                         ['remember'], 'unknown field')

    def test_throttling(self):
        self.new_user('victim', 'admin')
        for i in range(3):
            r = self.daemon.login_response('victim', 'bad-password-%d' % i)
            assert_problem(r, 401, 'failure %d of 3' % (i + 1))
        r = self.daemon.login_response('victim', PASSWORD)
        assert_problem(r, 429, 'POST %s right password after 3 failures' % TOKEN)
        ra = assert_retry_after(r, 'throttled login', maximum=900)
        self.assertGreater(ra, 0, r)
        r = self.daemon.login_response('victim', 'bad-password-x')
        assert_problem(r, 429, 'wrong password while locked')
        assert_retry_after(r, 'throttled login', maximum=900)
        # other logins are not affected
        tok = self.daemon.login('alice', PASSWORD)
        self.issued.append(tok)

    def test_throttle_counts_unknown_logins(self):
        for i in range(3):
            r = self.daemon.login_response('ghost-login', 'bad-%d' % i)
            assert_problem(r, 401, 'unknown login failure %d' % (i + 1))
        r = self.daemon.login_response('ghost-login', 'bad-x')
        assert_problem(r, 429, 'unknown login after 3 failures')
        assert_retry_after(r, 'throttled unknown login', maximum=900)

    def test_throttle_parallel_attempts(self):
        # 20 wrong passwords at once: the limit must hold under concurrency, not only in series
        self.new_user('racer', 'admin')
        with ThreadPoolExecutor(20) as ex:
            rs = list(ex.map(lambda i: self.daemon.login_response('racer', 'bad-%d' % i),
                             range(20)))
        statuses = sorted(r.status for r in rs)
        for r in rs:
            self.assertIn(r.status, (401, 429), r)
        self.assertLessEqual(statuses.count(401), 3,
                             '20 parallel wrong passwords with EFFMON_LOGIN_MAX_FAILURES=3 got '
                             '%d password checks (401) instead of at most 3: %r'
                             % (statuses.count(401), statuses))
        assert_problem(self.daemon.login_response('racer', PASSWORD), 429,
                       'right password after the parallel burst')

    # ----------------------------------------------------------------- tokens

    def valid(self, **kw):
        return self.daemon.token(self.admin_id, 'admin', **kw)

    def test_token_valid(self):
        self.assertTokenAccepted(self.valid(), 'a python-jwt HS256 token', self.admin_id)

    def test_token_missing_authorization(self):
        r = self.daemon.request('GET', ME)
        assert_problem(r, 401, 'GET %s without Authorization' % ME)
        www = r.headers.get('www-authenticate')
        self.assertIsNotNone(www, 'no WWW-Authenticate: %r' % r)
        self.assertTrue(www.startswith('Bearer'), r)
        self.assertNotIn('error=', www, 'a missing token is not an error per RFC 6750: %r' % r)

    def test_token_other_schemes(self):
        for value in ('Basic cm9vdDpwYXNz', 'Bearer', 'Bearer ', 'Bearer a.b',
                      'Bearer not-a-token', 'Token ' + self.valid()):
            r = self.daemon.request('GET', ME, headers={'Authorization': value})
            assert_problem(r, 401, 'Authorization: %r' % value)
            self.assertTrue(r.headers.get('www-authenticate', '').startswith('Bearer'), r)

    def test_token_garbage_invalid_token(self):
        self.assertTokenRejected('abc.def.ghi', 'garbage')

    def test_token_alg_none(self):
        claims = harness.default_claims(self.admin_id, 'admin')
        self.assertTokenRejected(unsigned_token(claims, 'none'), 'alg none')
        self.assertTokenRejected(unsigned_token(claims, 'None'), 'alg None')
        self.assertTokenRejected(unsigned_token(claims, 'NONE'), 'alg NONE')
        # alg none with the signature of a valid HS256 token attached
        sig = self.valid().split('.')[2]
        self.assertTokenRejected(unsigned_token(claims, 'none') + sig, 'alg none + signature')

    def test_token_hs512_right_secret(self):
        self.assertTokenRejected(self.valid(alg='HS512'), 'HS512 with the right secret')

    def test_token_hs384_right_secret(self):
        self.assertTokenRejected(self.valid(alg='HS384'), 'HS384 with the right secret')

    def test_token_header_claims_hs256_but_hs512_signature(self):
        tok = self.valid(alg='HS512')
        h, p, s = tok.split('.')
        forged = b64url_json({'alg': 'HS256', 'typ': 'JWT'}) + '.' + p + '.' + s
        self.assertTokenRejected(forged, 'HS256 header, HS512 signature')

    def test_token_tampered_payload(self):
        tok = self.valid()
        h, p, s = tok.split('.')
        claims = __import__('json').loads(b64url_decode(p))
        claims['sub'] = str(self.alice_id)
        self.assertTokenRejected(h + '.' + b64url_json(claims) + '.' + s, 'tampered sub')
        claims = __import__('json').loads(b64url_decode(p))
        claims['exp'] += 3600
        self.assertTokenRejected(h + '.' + b64url_json(claims) + '.' + s, 'tampered exp')

    def test_token_truncated_signature(self):
        tok = self.valid()
        self.assertTokenRejected(tok[:-2], 'truncated signature')
        self.assertTokenRejected(tok.rsplit('.', 1)[0] + '.', 'empty signature (alg HS256)')

    def test_token_wrong_secret(self):
        self.assertTokenRejected(self.valid(secret=harness.random_secret(48)), 'wrong secret')
        # a secret that is a prefix of the right one
        self.assertTokenRejected(self.valid(secret=self.daemon.secret[:32]), 'secret prefix')

    def test_token_expired(self):
        now = int(time.time())
        self.assertTokenRejected(self.valid(iat=now - 600, exp=now - 120), 'exp = now-120')

    def test_token_leeway(self):
        now = int(time.time())
        self.assertTokenAccepted(self.valid(iat=now - 600, exp=now - 10),
                                 'exp = now-10 (inside the 30 s leeway)')
        self.assertTokenAccepted(self.valid(nbf=now + 10), 'nbf = now+10 (inside the leeway)')

    def test_token_nbf_future(self):
        now = int(time.time())
        self.assertTokenRejected(self.valid(nbf=now + 120), 'nbf = now+120')

    def test_token_iat_future(self):
        now = int(time.time())
        self.assertTokenRejected(self.valid(iat=now + 120, exp=now + 600), 'iat = now+120')

    def test_token_exp_string(self):
        now = int(time.time())
        self.assertTokenRejected(self.valid(exp=str(now + 300)), 'exp as a string')

    def test_token_time_claims_wrong_types(self):
        now = int(time.time())
        self.assertTokenRejected(self.valid(nbf=str(now - 10)), 'nbf as a string')
        self.assertTokenRejected(self.valid(iat=str(now)), 'iat as a string')
        self.assertTokenRejected(self.valid(exp=float(now + 300) + 0.5), 'exp as a float')
        self.assertTokenRejected(self.valid(exp=True), 'exp as a boolean')

    def test_token_missing_exp(self):
        self.assertTokenRejected(self.valid(exp=None), 'no exp claim')

    def test_token_wrong_iss(self):
        self.assertTokenRejected(self.valid(iss='someone-else'), 'iss someone-else')
        self.assertTokenRejected(self.valid(iss=None), 'no iss')

    def test_token_wrong_aud(self):
        self.assertTokenRejected(self.valid(aud='other'), 'aud other')
        self.assertTokenRejected(self.valid(aud=['other', 'x']), 'aud [other, x]')
        self.assertTokenRejected(self.valid(aud=None), 'no aud')

    def test_token_aud_list(self):
        self.assertTokenAccepted(self.valid(aud=['other', 'effmon']), 'aud [other, effmon]',
                                 self.admin_id)

    def test_token_role_mismatch(self):
        self.assertTokenRejected(self.daemon.token(self.admin_id, 'regional_operator',
                                                   scope={'region_id': self.R1}),
                                 'role regional_operator for an admin')
        self.assertTokenRejected(self.daemon.token(self.reg_id, 'admin'),
                                 'role admin for a regional operator')
        self.assertTokenRejected(self.valid(role='superuser'), 'unknown role')
        self.assertTokenRejected(self.valid(role=None), 'no role claim')

    def test_token_scope_mismatch(self):
        self.assertTokenAccepted(self.daemon.token(self.reg_id, 'regional_operator',
                                                   scope={'region_id': self.R1}),
                                 'regional operator, right region', self.reg_id)
        self.assertTokenRejected(self.daemon.token(self.reg_id, 'regional_operator',
                                                   scope={'region_id': self.R2}),
                                 'regional operator, another region')
        self.assertTokenRejected(self.daemon.token(self.reg_id, 'regional_operator',
                                                   scope={'region_id': self.R1,
                                                          'municipality_id':
                                                          self.s1['municipality']}),
                                 'regional operator, an extra municipality claim')
        self.assertTokenRejected(self.daemon.token(self.reg_id, 'regional_operator'),
                                 'regional operator, no region claim')
        self.assertTokenRejected(self.daemon.token(self.reg_id, 'regional_operator',
                                                   scope={'region_id': str(self.R1)}),
                                 'regional operator, region as a string')
        self.assertTokenRejected(self.valid(region_id=self.R1), 'admin with a region claim')

    def test_token_bad_sub(self):
        self.assertTokenRejected(self.daemon.token(999999, 'admin'), 'sub of no user')
        self.assertTokenRejected(self.valid(sub=None), 'no sub')
        self.assertTokenRejected(self.valid(sub='abc'), 'sub abc')
        self.assertTokenRejected(self.valid(sub=''), 'sub empty')
        self.assertTokenRejected(self.valid(sub='-1'), 'sub -1')
        self.assertTokenRejected(self.valid(sub='+%d' % self.admin_id), 'sub with a plus sign')
        self.assertTokenRejected(self.valid(sub='0%d' % self.admin_id), 'sub with a leading 0')
        self.assertTokenRejected(self.valid(sub='%d ' % self.admin_id), 'sub with a space after')
        self.assertTokenRejected(self.valid(sub=' %d' % self.admin_id), 'sub with a space before')
        self.assertTokenRejected(self.valid(sub='\t%d' % self.admin_id), 'sub with a tab before')
        self.assertTokenRejected(self.valid(sub='99999999999999999999999'), 'sub overflow')

    def test_token_sub_integer(self):
        # sub is a StringOrURI (RFC 7519); the interface fixes it as a decimal string
        self.assertTokenRejected(self.valid(sub=self.admin_id), 'sub as a JSON integer')

    def test_deactivated_user_fresh_token(self):
        uid = self.new_user('fresh-off', 'admin')
        tok = self.daemon.token(uid, 'admin')
        self.cluster.psql('UPDATE users SET active = false WHERE id = %d' % uid)
        self.assertTokenRejected(tok, 'a deactivated user, token never used')

    def test_role_changed_fresh_token(self):
        uid = self.new_user('moved', 'regional_operator', region=self.R1)
        tok = self.daemon.token(uid, 'regional_operator', scope={'region_id': self.R1})
        self.cluster.psql('UPDATE users SET region_id = %d WHERE id = %d' % (self.R2, uid))
        self.assertTokenRejected(tok, 'a token for region R1 after the user moved to R2')
        self.assertTokenAccepted(self.daemon.token(uid, 'regional_operator',
                                                   scope={'region_id': self.R2}),
                                 'a token for the new region R2', uid)

    def test_zz_log_holds_no_secret(self):
        # runs last (alphabetical): nothing secret may reach the log
        log = self.daemon.log()
        self.assertTrue(log, 'the daemon logged nothing')
        self.assertNotIn(PASSWORD, log, 'a password is in the log')
        self.assertNotIn(self.daemon.secret, log, 'the JWT secret is in the log')
        for tok in self.issued:
            self.assertNotIn(tok.split('.')[2], log, 'a token signature is in the log')
            self.assertNotIn(tok, log, 'a token is in the log')


class UserCacheTest(harness.DaemonTestCase):
    """The bearer check keeps user rows per worker thread until a change of users (or of the
    scope their organization or municipality implies) is announced on effmon_users. A daemon of
    its own, so that every users notification it reads is one of this class's writes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s1 = cls.cluster.add_scope()
        cls.s2 = cls.cluster.add_scope()

    def me(self, token):
        return self.daemon.request('GET', ME, token=token)

    def users_notifications(self):
        r = self.daemon.request('GET', '/metrics')
        assert_status(r, 200, 'GET /metrics')
        for line in r.body.decode().splitlines():
            if line.startswith('effmon_db_notifications_total{channel="users"} '):
                return int(line.split()[1])
        self.fail('no users notification counter in /metrics')

    def cached_token(self, login, role='admin', **scope):
        uid = self.daemon.create_user(login, role, PASSWORD, **scope)
        tok = self.daemon.login(login, PASSWORD)
        # enough requests for both worker threads to keep the row, in all likelihood; the
        # assertions below hold whichever threads did
        for _ in range(8):
            assert_status(self.me(tok), 200, 'GET %s with a fresh token of %s' % (ME, login))
        return uid, tok

    def change_announced(self, before, sql, what):
        """Runs sql if given (as the superuser, outside the daemon), then requests until a users
        notification read after it is counted. Every notification read after the commit moves
        the process-wide generation past every row kept before it, so from then on no thread
        may answer from an old row. Returns the number of requests that took."""
        if sql:
            self.cluster.psql(sql)
        deadline = time.monotonic() + 20
        n = 0
        while time.monotonic() < deadline:
            self.me(self.probe)  # a request reads its thread's connection first
            n += 1
            if self.users_notifications() > before:
                return n
        self.fail('%s: no users notification read within 20 s' % what)

    def setUp(self):
        if not hasattr(type(self), 'probe'):
            type(self).probe_id = self.daemon.create_user('probe', 'admin', PASSWORD)
            type(self).probe = self.daemon.login('probe', PASSWORD)

    def test_deactivation_takes_effect_with_the_announcement(self):
        uid, tok = self.cached_token('cached-off')
        before = self.users_notifications()
        self.change_announced(before, 'UPDATE users SET active = false WHERE id = %d' % uid,
                              'deactivation')
        for i in range(8):
            r = self.me(tok)
            assert_problem(r, 401, 'GET %s with a deactivated user\'s token (#%d)' % (ME, i))
        # and back: reactivation is announced the same way
        before = self.users_notifications()
        self.change_announced(before, 'UPDATE users SET active = true WHERE id = %d' % uid,
                              'reactivation')
        for i in range(8):
            assert_status(self.me(tok), 200, 'GET %s after reactivation (#%d)' % (ME, i))

    def test_role_change_takes_effect_with_the_announcement(self):
        uid, tok = self.cached_token('cached-role')
        before = self.users_notifications()
        self.change_announced(before, "UPDATE users SET role = 'regional_operator', region_id = %d WHERE id = %d"
                              % (self.s1['region'], uid),
                              'role change')
        for i in range(8):
            r = self.me(tok)
            assert_problem(r, 401, 'GET %s after the role changed (#%d)' % (ME, i))

    def announced(self, sql):
        """Whether sql, run in a session that LISTENs on effmon_users, is announced there: a
        session gets its own notifications, at commit, and psql prints them."""
        out = self.cluster.psql('LISTEN effmon_users; ' + sql)
        return 'Asynchronous notification "effmon_users"' in out

    def test_scope_moves_announce_and_renames_do_not(self):
        s1, s2 = self.s1, self.s2
        self.cached_token('cached-head', 'head', organization=s1['organization'],
                          manager=s1['manager'])
        # a move of an organization or a municipality changes scopes: announced, and the
        # daemon reads it
        for sql, what in (
                ('UPDATE organizations SET municipality_id = %d, region_id = %d WHERE id = %d'
                 % (s2['municipality'], s2['region'], s1['organization']), 'organization moved'),
                ('UPDATE municipalities SET region_id = %d WHERE id = %d'
                 % (s1['region'], s2['municipality']), 'municipality moved'),
                ('UPDATE municipalities SET region_id = %d WHERE id = %d'
                 % (s2['region'], s2['municipality']), 'municipality moved back')):
            before = self.users_notifications()
            self.assertTrue(self.announced(sql), what)
            self.change_announced(before, None, what)
        # a rename changes no scope: nothing is announced
        for sql in ("UPDATE organizations SET short_name = 'Renamed' WHERE id = %d"
                    % s1['organization'],
                    "UPDATE municipalities SET name = 'Renamed' WHERE id = %d"
                    % s2['municipality']):
            self.assertFalse(self.announced(sql), 'a rename was announced: ' + sql)


class ThrottleExpiryTest(harness.DaemonTestCase):
    daemon_env = {'EFFMON_LOGIN_MAX_FAILURES': '2', 'EFFMON_LOGIN_LOCK_SECONDS': '2'}

    def test_lock_expires(self):
        d = self.daemon
        d.create_user('lockee', 'admin', PASSWORD)
        for i in range(2):
            assert_problem(d.login_response('lockee', 'bad-%d' % i), 401, 'failure %d' % i)
        r = d.login_response('lockee', PASSWORD)
        assert_problem(r, 429, 'locked with EFFMON_LOGIN_LOCK_SECONDS=2')
        ra = assert_retry_after(r, 'locked', maximum=2)
        self.assertGreaterEqual(ra, 1, r)
        time.sleep(ra + 1.0)
        r = d.login_response('lockee', PASSWORD)
        assert_status(r, 200, 'right password %.0fs after a 2 s lock' % (ra + 1.0))


class IssuerAudienceConfigTest(harness.DaemonTestCase):
    daemon_env = {'EFFMON_JWT_ISSUER': 'https://idp.example', 'EFFMON_JWT_AUDIENCE': 'effmon-test'}

    def test_configured_iss_aud(self):
        d = self.daemon
        uid = d.create_user('issuer', 'admin', PASSWORD)
        tok = d.login('issuer', PASSWORD)
        claims = jwt.decode(tok, d.secret, algorithms=['HS256'], audience='effmon-test')
        self.assertEqual((claims['iss'], claims['aud']), ('https://idp.example', 'effmon-test'))
        assert_status(d.request('GET', ME, token=tok), 200, 'its own token')
        good = dict(iss='https://idp.example', aud='effmon-test')
        assert_status(d.request('GET', ME, token=d.token(uid, 'admin', **good)), 200)
        for k, v in (('iss', 'effmon'), ('aud', 'effmon'), ('iss', 'https://idp.example/'),
                     ('aud', 'effmon-test2')):
            claims = dict(good)
            claims[k] = v
            r = d.request('GET', ME, token=d.token(uid, 'admin', **claims))
            assert_problem(r, 401, '%s=%r with the issuer/audience configured' % (k, v))


def _have_crypto():
    import importlib.util
    return importlib.util.find_spec('cryptography') is not None


class ExternalIdpTest(harness.DaemonTestCase):
    """EFFMON_JWT_PUBLIC_KEY_FILE + EFFMON_JWT_ALG=RS256: external tokens, and no key confusion."""

    @classmethod
    def setUpClass(cls):
        if not _have_crypto():
            raise harness.unittest.SkipTest('python3-cryptography is not installed')
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        cls.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.pub_pem = cls.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        cls.keydir = harness.tempfile.mkdtemp(prefix='effmon-key-', dir='/tmp')
        cls.addClassCleanup(harness.shutil.rmtree, cls.keydir, True)
        path = os.path.join(cls.keydir, 'idp.pem')
        with open(path, 'wb') as f:
            f.write(cls.pub_pem)
        cls.daemon_env = {'EFFMON_JWT_PUBLIC_KEY_FILE': path, 'EFFMON_JWT_ALG': 'RS256'}
        super().setUpClass()
        cls.uid = cls.daemon.create_user('external', 'admin', PASSWORD)

    def claims(self, **kw):
        c = harness.default_claims(self.uid, 'admin')
        c.update(kw)
        return c

    def test_rs256_accepted(self):
        tok = jwt.encode(self.claims(), self.key, algorithm='RS256')
        assert_status(self.daemon.request('GET', ME, token=tok), 200, 'RS256 from the IdP key')

    def test_own_hs256_still_accepted(self):
        assert_status(self.daemon.request('GET', ME, token=self.daemon.token(self.uid, 'admin')),
                      200, 'HS256 with EFFMON_JWT_SECRET next to an IdP key')

    def test_rs256_other_key(self):
        tok = jwt.encode(self.claims(), self.other, algorithm='RS256')
        assert_problem(self.daemon.request('GET', ME, token=tok), 401, 'RS256, another key')

    def test_rs256_bad_claims(self):
        now = int(time.time())
        for what, kw in (('expired', dict(iat=now - 600, exp=now - 120)),
                         ('wrong aud', dict(aud='other')), ('wrong role', dict(role='expert'))):
            tok = jwt.encode(self.claims(**kw), self.key, algorithm='RS256')
            assert_problem(self.daemon.request('GET', ME, token=tok), 401, 'RS256, ' + what)

    def test_other_asymmetric_alg(self):
        tok = jwt.encode(self.claims(), self.key, algorithm='RS512')
        assert_problem(self.daemon.request('GET', ME, token=tok), 401, 'RS512 with the IdP key')
        tok = jwt.encode(self.claims(), self.key, algorithm='PS256')
        assert_problem(self.daemon.request('GET', ME, token=tok), 401, 'PS256 with the IdP key')

    def test_key_confusion(self):
        # HS256 keyed with the public key's PEM: the classic algorithm-confusion forgery
        claims = self.claims()
        for key in (self.pub_pem, self.pub_pem.strip()):
            hdr = b64url_json({'alg': 'HS256', 'typ': 'JWT'})
            body = b64url_json(claims)
            sig = hmac.new(key, (hdr + '.' + body).encode(), hashlib.sha256).digest()
            tok = hdr + '.' + body + '.' + harness.b64url(sig)
            assert_problem(self.daemon.request('GET', ME, token=tok), 401,
                           'HS256 keyed with the IdP public key')


if __name__ == '__main__':
    harness.main()
