package io.mayastorj.control.internal.operator;

import io.mayastorj.control.internal.model.MayastorNode;
import java.util.LinkedHashMap;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * A comma-separated list of names a MayastorNode keeps in one annotation: what was deleted while the
 * node was away (volume replicas, pools), for a sweep to destroy once it is back. Only the names
 * {@code valid} accepts are read: a hand-edited entry touches nothing it should not.
 */
record NodeNameList(String annotation, Predicate<String> valid) {

    Set<String> read(MayastorNode msn) {
        String list = msn.getMetadata().getAnnotations() == null ? null : msn.getMetadata().getAnnotations().get(annotation);
        Set<String> names = new TreeSet<>();
        if (list != null) {
            for (String n : list.split(",")) {
                if (!n.isBlank() && valid.test(n.strip())) {
                    names.add(n.strip());
                }
            }
        }
        return names;
    }

    /** Edits the list; false when it is unchanged (nothing to write). */
    boolean edit(MayastorNode msn, Consumer<Set<String>> edit) {
        Set<String> names = read(msn);
        Set<String> was = new TreeSet<>(names);
        edit.accept(names);
        if (names.equals(was)) {
            return false;
        }
        if (msn.getMetadata().getAnnotations() == null) {
            msn.getMetadata().setAnnotations(new LinkedHashMap<>());
        }
        if (names.isEmpty()) {
            msn.getMetadata().getAnnotations().remove(annotation);
        } else {
            msn.getMetadata().getAnnotations().put(annotation, String.join(",", names));
        }
        return true;
    }
}
