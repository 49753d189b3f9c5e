package io.mayastorj.control.internal.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.control.internal.model.MayastorPool;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Review finding: nothing stopped an operator's write once its control plane no longer led — a
 * leader paused past its lease resumed in the middle of a pass and wrote beside the new leader.
 */
class ActingStoreTest {

    @Test
    void writesGoThroughOnlyWhileActingAndReadsAlways(@TempDir Path dir) {
        try (FileStore files = new FileStore(dir)) {
            ActingStore store = new ActingStore(files);
            AtomicBoolean acting = new AtomicBoolean(true);
            store.actingWhile(acting::get);
            MayastorPool pool = new MayastorPool();
            pool.getMetadata().setName("p1");
            store.create(pool);
            acting.set(false);
            MayastorPool read = store.get(MayastorPool.class, "p1").orElseThrow();
            read.getMetadata().getLabels().put("x", "y");
            MayastorException e = assertThrows(MayastorException.class, () -> store.update(read));
            assertEquals(ErrorKind.UNAVAILABLE, e.kind());
            assertTrue(e.getMessage().contains("no longer leads"), e.getMessage());
            assertThrows(MayastorException.class, () -> store.change(MayastorPool.class, "p1", p -> true));
            assertThrows(MayastorException.class, () -> store.delete(MayastorPool.class, "p1"));
            assertEquals(1, store.list(MayastorPool.class).size(), "nothing written");
        }
    }
}
