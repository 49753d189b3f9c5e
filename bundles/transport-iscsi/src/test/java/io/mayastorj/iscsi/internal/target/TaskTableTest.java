package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** TaskTable against a HashMap, through a long random run of the operations a connection makes. */
class TaskTableTest {

    @Test
    void behavesLikeAMap() {
        Random random = new Random(20261126);
        TaskTable table = new TaskTable(8);
        Map<Integer, Task> reference = new HashMap<>();
        int[] pool = new int[300];
        for (int i = 0; i < pool.length; i++) {
            // sequential tags, tags that collide in the low bits, and the extremes
            pool[i] = switch (i % 3) {
                case 0 -> i;
                case 1 -> i << 20;
                default -> random.nextInt();
            };
        }
        pool[0] = Integer.MIN_VALUE;
        pool[1] = -1;
        for (int step = 0; step < 200_000; step++) {
            int key = pool[random.nextInt(pool.length)];
            switch (random.nextInt(4)) {
                case 0, 1 -> {
                    Task t = new Task(null);
                    table.put(key, t);
                    reference.put(key, t);
                }
                case 2 -> assertSame(reference.remove(key), table.remove(key), "remove " + key);
                default -> assertSame(reference.get(key), table.get(key), "get " + key);
            }
            assertEquals(reference.size(), table.size());
            if (step % 10_000 == 0) {
                for (int k : pool) {
                    assertSame(reference.get(k), table.get(k), "get " + k + " at step " + step);
                }
                assertEquals(reference.size(), table.tasks().size());
            }
        }
        table.clear();
        assertEquals(0, table.size());
        assertNull(table.get(pool[5]));
    }

    /** Review finding: an aborted task that ended late removed the newer command filed under its reused tag. */
    @Test
    void aLateEndRemovesOnlyItsOwnTask() {
        TaskTable table = new TaskTable(8);
        Task aborted = new Task(null);
        Task newer = new Task(null);
        table.put(7, newer);
        assertEquals(false, table.remove(7, aborted));
        assertSame(newer, table.get(7));
        assertEquals(true, table.remove(7, newer));
        assertNull(table.get(7));
    }
}
