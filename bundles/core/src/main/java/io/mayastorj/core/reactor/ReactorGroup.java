package io.mayastorj.core.reactor;

import java.util.List;
import java.util.Optional;

/** The node's reactors (two by default; see the {@code reactors} setting). */
public interface ReactorGroup {

    List<Reactor> reactors();

    /** The reactors in turn, to spread connections. */
    Reactor next();

    /** The reactor whose thread this is, if any. */
    Optional<Reactor> current();
}
