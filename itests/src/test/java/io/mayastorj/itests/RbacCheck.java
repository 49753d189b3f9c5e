package io.mayastorj.itests;

import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What Kubernetes' RBAC authorizer would decide for the API calls a process made: each recorded
 * HTTP request becomes the (verb, API group, resource[/subresource]) the authorizer checks, and a
 * ClusterRole's rules allow it or not. Discovery and /version are open to every authenticated user
 * (system:discovery) and are not checked.
 */
final class RbacCheck {

    /** An API call as the authorizer sees it. */
    record Call(String verb, String group, String resource, String line) {
        String key() {
            return verb + " " + (group.isEmpty() ? "" : group + "/") + resource;
        }
    }

    // /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]] and /apis/GROUP/VERSION[/namespaces/NS]/RESOURCE[/NAME[/SUB]]
    private static final Pattern PATH = Pattern.compile(
            "^/(?:api/v1|apis/([^/]+)/[^/]+)(?:/namespaces/[^/]+)?/([^/]+)(?:/([^/]+)(?:/([^/]+))?)?$");

    private RbacCheck() {
    }

    /** The call a request makes, or null for discovery (/api, /apis/…, /version, a namespace itself). */
    static Call of(RecordedRequest request) {
        URI uri = URI.create(request.getPath());
        String path = uri.getPath();
        Matcher m = PATH.matcher(path);
        if (!m.matches() || path.equals("/version")) {
            return null;
        }
        String group = m.group(1) == null ? "" : m.group(1);
        String resource = m.group(2);
        String name = m.group(3);
        if (m.group(4) != null) {
            resource = resource + "/" + m.group(4);
        }
        boolean watch = uri.getQuery() != null && uri.getQuery().contains("watch=true");
        String verb = switch (request.getMethod().toUpperCase()) {
            case "GET" -> watch ? "watch" : name == null ? "list" : "get";
            case "POST" -> "create";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            case "DELETE" -> name == null ? "deletecollection" : "delete";
            default -> request.getMethod().toLowerCase();
        };
        return new Call(verb, group, resource, request.getMethod() + " " + request.getPath());
    }

    /** Whether one of the role's rules allows the call. */
    static boolean allows(ClusterRole role, Call call) {
        for (PolicyRule rule : role.getRules()) {
            if (matches(rule.getApiGroups(), call.group()) && matches(rule.getResources(), call.resource())
                    && matches(rule.getVerbs(), call.verb())) {
                return true;
            }
        }
        return false;
    }

    private static boolean matches(List<String> allowed, String value) {
        return allowed != null && (allowed.contains("*") || allowed.contains(value));
    }

    /** The calls the role does not allow, one line each ("verb group/resource: METHOD path"). */
    static List<String> denied(ClusterRole role, List<Call> calls) {
        List<String> denied = new ArrayList<>();
        for (Call c : calls) {
            if (!allows(role, c)) {
                denied.add(c.key() + ": " + c.line());
            }
        }
        return denied;
    }
}
