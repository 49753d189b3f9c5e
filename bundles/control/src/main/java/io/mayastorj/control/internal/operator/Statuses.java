package io.mayastorj.control.internal.operator;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.Objects;

/** Status comparison by content, so that an unchanged status is not written (and not watched) again. */
final class Statuses {

    private static final KubernetesSerialization JSON = new KubernetesSerialization();

    private Statuses() {
    }

    static boolean same(Object a, Object b) {
        if (a == null || b == null) {
            return a == b;
        }
        return Objects.equals(JSON.asJson(a), JSON.asJson(b));
    }
}
