#!/usr/bin/python3
"""Check the server's route table against api/openapi.yaml.

Runs `$EFFMOND routes` (lines `METHOD PATTERN ROLES`, roles comma-separated or
`public`) and asserts that
  * the set of (method, pattern) equals the set of operations under `paths:`;
  * each route's roles equal its operation's `x-roles` (as sets);
  * within the document, `x-roles: [public]` goes with `security: []` and any
    other role list with the bearer scheme, and every role is a known one.

Stdlib only (Debian's python3 has no PyYAML here). The document is read by a
small extractor that relies on the layout api/openapi.yaml promises in its
header: two-space indentation, `paths:` at column 0, path keys at column 2,
method keys at column 4, and `x-roles` / `security` at column 6. Anything in
the paths section it does not understand is an error, not a silent skip.

Environment: EFFMOND (the binary, required), EFFMON_SOURCE_ROOT (repository
root; defaults to two directories above this file).
"""

import os
import re
import subprocess
import sys

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ROLES = ("admin", "regional_operator", "municipal_operator", "head", "expert", "portal")
PUBLIC = "public"


class ExtractError(Exception):
    pass


def _strip_comment(line):
    """Drop a trailing ` # comment` (not inside quotes) and trailing blanks."""
    out, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(ch)
    return "".join(out).rstrip()


def _unquote(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def _flow_list(value, where):
    """Parse a one-line flow sequence `[a, 'b', c]`."""
    value = value.strip()
    if not (value.startswith("[") and value.endswith("]")):
        raise ExtractError("%s: expected a flow list like [a, b], got %r" % (where, value))
    inner = value[1:-1].strip()
    if not inner:
        return []
    return [_unquote(item) for item in inner.split(",")]


def extract_operations(text):
    """Return {(METHOD, path): {"roles": [...] or None, "security": [...] or None, "line": n}}.

    "security" is None when the operation does not set it (the top-level
    default applies), [] for `security: []`, else the scheme names listed.
    """
    lines = text.split("\n")
    ops = {}
    top_security = None
    in_paths = False
    path = None
    op = None           # the current operation's dict
    pending = None      # ("x-roles" | "security", indent) awaiting block items

    def finish_pending():
        nonlocal pending
        pending = None

    i = 0
    while i < len(lines):
        lineno = i + 1
        raw = lines[i]
        i += 1
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ExtractError("line %d: tab in indentation" % lineno)
        line = _strip_comment(raw)
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()

        if indent == 0:
            finish_pending()
            in_paths = body == "paths:"
            if body.startswith("paths:") and not in_paths:
                raise ExtractError("line %d: `paths:` must be a block mapping" % lineno)
            if body == "security:":
                # Top-level default: collect `- name: [...]` items below.
                names = []
                while i < len(lines):
                    nxt = _strip_comment(lines[i])
                    if not nxt.strip():
                        i += 1
                        continue
                    m = re.match(r"^\s*-\s*([A-Za-z0-9_.-]+)\s*:", nxt)
                    if not m or not nxt.startswith(" ") and not nxt.startswith("-"):
                        break
                    names.append(m.group(1))
                    i += 1
                top_security = names
            elif body.startswith("security:"):
                top_security = _flow_list(body[len("security:"):], "line %d" % lineno)
            path = op = None
            continue
        if not in_paths:
            continue

        # Block items of a pending x-roles / security list.
        if pending is not None:
            key, key_indent = pending
            m = re.match(r"^-\s*(.*)$", body)
            if m and indent >= key_indent:
                item = m.group(1)
                if key == "x-roles":
                    op["roles"].append(_unquote(item))
                else:
                    mm = re.match(r"^([A-Za-z0-9_.-]+)\s*:", item)
                    if not mm:
                        raise ExtractError("line %d: cannot read security item %r" % (lineno, item))
                    op["security"].append(mm.group(1))
                continue
            if indent > key_indent:
                # e.g. continuation of a `- bearer:` item (its scopes list)
                continue
            finish_pending()

        if indent == 2:
            m = re.match(r"""^(['"]?)(/[^'"]*)\1:$""", body)
            if not m:
                raise ExtractError("line %d: expected a path key like `/x:` at column 2, got %r" % (lineno, body))
            path = m.group(2)
            op = None
            continue
        if path is None:
            raise ExtractError("line %d: indented line before the first path key" % lineno)
        if indent == 4:
            m = re.match(r"^([A-Za-z$][A-Za-z0-9_$-]*):(.*)$", body)
            if not m:
                raise ExtractError("line %d: expected a key at column 4, got %r" % (lineno, body))
            key, rest = m.group(1), m.group(2).strip()
            if key == "$ref":
                raise ExtractError("line %d: path item $ref is not supported by this extractor" % lineno)
            if key.lower() in HTTP_METHODS:
                if key != key.lower():
                    raise ExtractError("line %d: method keys must be lower case: %r" % (lineno, key))
                if rest:
                    raise ExtractError("line %d: operation %s %s must be a block mapping" % (lineno, key, path))
                k = (key.upper(), path)
                if k in ops:
                    raise ExtractError("line %d: duplicate operation %s %s" % (lineno, *k))
                op = {"roles": None, "security": None, "line": lineno}
                ops[k] = op
            else:
                op = None  # path-level summary/parameters/...: not an operation
            continue
        if op is None:
            continue
        if indent == 6:
            m = re.match(r"^([A-Za-z$][A-Za-z0-9_$-]*):(.*)$", body)
            if not m:
                continue
            key, rest = m.group(1), m.group(2).strip()
            if key == "x-roles":
                if rest:
                    op["roles"] = _flow_list(rest, "line %d" % lineno)
                else:
                    op["roles"] = []
                    pending = ("x-roles", 6)
            elif key == "security":
                if rest:
                    items = _flow_list(rest, "line %d" % lineno)
                    if items:
                        raise ExtractError("line %d: write non-empty security as a block list" % lineno)
                    op["security"] = []
                else:
                    op["security"] = []
                    pending = ("security", 6)
    return ops, top_security


def run_routes(effmond):
    try:
        proc = subprocess.run([effmond, "routes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=60, check=False)
    except OSError as exc:
        sys.exit("FAIL: cannot run %s routes: %s" % (effmond, exc))
    except subprocess.TimeoutExpired:
        sys.exit("FAIL: %s routes did not finish within 60 s" % effmond)
    if proc.returncode != 0:
        sys.exit("FAIL: `%s routes` exited %d; stderr:\n%s"
                 % (effmond, proc.returncode, proc.stderr.decode("utf-8", "replace")))
    return proc.stdout.decode("utf-8", "replace")


def parse_routes(out):
    """Return ({(METHOD, pattern): [roles]}, [problems], [order])."""
    routes, problems, order = {}, [], []
    for n, line in enumerate(out.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3:
            problems.append("routes line %d: expected `METHOD PATTERN ROLES`, got %r" % (n, line))
            continue
        method, pattern, roles = fields
        if method.upper() != method or method.lower() not in HTTP_METHODS:
            problems.append("routes line %d: bad method %r" % (n, method))
        if not pattern.startswith("/"):
            problems.append("routes line %d: pattern %r does not start with /" % (n, pattern))
        key = (method, pattern)
        if key in routes:
            problems.append("routes line %d: duplicate route %s %s" % (n, method, pattern))
        routes[key] = roles.split(",")
        order.append(key)
    return routes, problems, order


def check_roles(roles, where, problems):
    if roles is None:
        problems.append("%s: no x-roles" % where)
        return
    if not roles:
        problems.append("%s: empty role list" % where)
        return
    if len(set(roles)) != len(roles):
        problems.append("%s: repeated role in %s" % (where, roles))
    unknown = sorted(set(roles) - set(ROLES) - {PUBLIC})
    if unknown:
        problems.append("%s: unknown role(s) %s (known: %s, or %s alone)"
                        % (where, ", ".join(unknown), ", ".join(ROLES), PUBLIC))
    if PUBLIC in roles and len(roles) > 1:
        problems.append("%s: `%s` must stand alone, got %s" % (where, PUBLIC, roles))


def fmt_roles(roles):
    return ",".join(sorted(roles)) if roles else "(none)"


def main():
    effmond = os.environ.get("EFFMOND")
    if not effmond:
        sys.exit("FAIL: set EFFMOND to the effmond binary")
    root = os.environ.get("EFFMON_SOURCE_ROOT") or os.path.normpath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    doc_path = os.path.join(root, "api", "openapi.yaml")
    try:
        with open(doc_path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        sys.exit("FAIL: cannot read %s: %s" % (doc_path, exc))

    try:
        ops, top_security = extract_operations(text)
    except ExtractError as exc:
        sys.exit("FAIL: %s: %s" % (doc_path, exc))
    if not ops:
        sys.exit("FAIL: %s: no operations found under `paths:`" % doc_path)

    problems = []

    # The document against itself.
    for (method, path), op in sorted(ops.items(), key=lambda kv: kv[1]["line"]):
        where = "openapi.yaml:%d %s %s" % (op["line"], method, path)
        check_roles(op["roles"], where, problems)
        security = op["security"] if op["security"] is not None else top_security
        is_public = op["roles"] == [PUBLIC]
        if is_public and security:
            problems.append("%s: x-roles is [public] but security is %s (want `security: []`)"
                            % (where, security))
        if op["roles"] and not is_public and not security:
            problems.append("%s: x-roles %s needs a token but the operation has no security"
                            % (where, op["roles"]))

    # The server against the document.
    routes, route_problems, order = parse_routes(run_routes(effmond))
    problems.extend(route_problems)
    for key, roles in routes.items():
        check_roles(roles, "effmond route %s %s" % key, problems)

    doc_keys, srv_keys = set(ops), set(routes)
    only_srv = sorted(srv_keys - doc_keys, key=lambda k: (k[1], k[0]))
    only_doc = sorted(doc_keys - srv_keys, key=lambda k: (k[1], k[0]))
    diff = []
    for m, p in only_srv:
        hint = ""
        if m in ("HEAD", "OPTIONS"):
            hint = "   (HEAD and OPTIONS are implicit; the route table should not list them)"
        diff.append("+ %-7s %-40s %s   only in `effmond routes`%s" % (m, p, fmt_roles(routes[(m, p)]), hint))
    for m, p in only_doc:
        diff.append("- %-7s %-40s %s   only in api/openapi.yaml (line %d)"
                    % (m, p, fmt_roles(ops[(m, p)]["roles"]), ops[(m, p)]["line"]))
    for key in sorted(doc_keys & srv_keys, key=lambda k: ops[k]["line"]):
        want, got = ops[key]["roles"] or [], routes[key]
        if set(want) != set(got):
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            diff.append("~ %-7s %-40s x-roles=%s  effmond=%s%s%s"
                        % (key[0], key[1], fmt_roles(want), fmt_roles(got),
                           "  missing in effmond: " + ",".join(missing) if missing else "",
                           "  extra in effmond: " + ",".join(extra) if extra else ""))

    # Not a failure: the route table is meant to follow the document's order.
    doc_order = [k for k in sorted(ops, key=lambda k: ops[k]["line"]) if k in srv_keys]
    srv_order = [k for k in order if k in doc_keys]
    if not diff and not problems and doc_order != srv_order:
        print("note: effmond lists its routes in a different order from api/openapi.yaml")

    if problems or diff:
        if problems:
            print("Problems:")
            for p in problems:
                print("  " + p)
        if diff:
            print("Route table vs api/openapi.yaml (+ only in effmond, - only in the document, "
                  "~ roles differ):")
            for d in diff:
                print("  " + d)
        print("FAIL: %d problem(s), %d difference(s)" % (len(problems), len(diff)))
        return 1
    print("ok: %d routes match api/openapi.yaml (methods, patterns and roles)" % len(routes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
