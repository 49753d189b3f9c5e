package io.mayastorj.itests;

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
    record Call(String verb, String group, String resource, String namespace, String line) {
        String key() {
            return verb + " " + (group.isEmpty() ? "" : group + "/") + resource;
        }
    }

    // /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]] and /apis/GROUP/VERSION[/namespaces/NS]/RESOURCE[/NAME[/SUB]]
    private static final Pattern PATH = Pattern.compile(
            "^/(?:api/v1|apis/([^/]+)/[^/]+)(?:/namespaces/([^/]+))?/([^/]+)(?:/([^/]+)(?:/([^/]+))?)?$");

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
        String namespace = m.group(2);
        String resource = m.group(3);
        String name = m.group(4);
        if (m.group(5) != null) {
            resource = resource + "/" + m.group(5);
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
        return new Call(verb, group, resource, namespace, request.getMethod() + " " + request.getPath());
    }

    /** A ClusterRole's rules, and a Role's in its namespace: what the service account may do. */
    record Rights(List<PolicyRule> cluster, List<PolicyRule> namespaced, String namespace) {
        Rights without(java.util.function.Predicate<PolicyRule> rule) {
            return new Rights(cluster.stream().filter(rule.negate()).toList(), namespaced.stream().filter(rule.negate()).toList(),
                    namespace);
        }
    }

    /** Whether a rule of the ClusterRole, or of the Role for a call in the Role's namespace, allows the call. */
    static boolean allows(Rights rights, Call call) {
        return allows(rights.cluster(), call) || namespaceEquals(rights.namespace(), call.namespace()) && allows(rights.namespaced(), call);
    }

    private static boolean namespaceEquals(String a, String b) {
        return a != null && a.equals(b);
    }

    private static boolean allows(List<PolicyRule> rules, Call call) {
        for (PolicyRule rule : rules) {
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
    static List<String> denied(Rights rights, List<Call> calls) {
        List<String> denied = new ArrayList<>();
        for (Call c : calls) {
            if (!allows(rights, c)) {
                denied.add(c.key() + ": " + c.line());
            }
        }
        return denied;
    }
}
