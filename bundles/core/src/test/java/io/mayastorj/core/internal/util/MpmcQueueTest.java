package io.mayastorj.core.internal.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.Test;

class MpmcQueueTest {

    @Test
    void isFirstInFirstOutAndBounded() {
        MpmcQueue<Integer> q = new MpmcQueue<>(5);
        assertEquals(8, q.capacity());
        assertTrue(q.isEmpty());
        for (int i = 0; i < 8; i++) {
            assertTrue(q.offer(i));
        }
        assertFalse(q.offer(99), "full");
        assertEquals(8, q.size());
        for (int i = 0; i < 8; i++) {
            assertEquals(i, q.poll());
        }
        assertNull(q.poll());
        assertTrue(q.offer(8), "wraps around");
        assertEquals(8, q.poll());
    }

    @Test
    void concurrentProducersAndConsumersLoseAndDuplicateNothing() throws Exception {
        MpmcQueue<Integer> q = new MpmcQueue<>(64);
        int producers = 3;
        int perProducer = 100_000;
        AtomicLongArray seen = new AtomicLongArray(producers * perProducer);
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            int base = p * perProducer;
            threads.add(new Thread(() -> {
                for (int i = 0; i < perProducer; i++) {
                    while (!q.offer(base + i)) {
                        Thread.onSpinWait();
                    }
                }
            }));
        }
        int total = producers * perProducer;
        java.util.concurrent.atomic.AtomicInteger consumed = new java.util.concurrent.atomic.AtomicInteger();
        for (int c = 0; c < 2; c++) {
            threads.add(new Thread(() -> {
                while (consumed.get() < total) {
                    Integer v = q.poll();
                    if (v != null) {
                        seen.incrementAndGet(v);
                        consumed.incrementAndGet();
                    }
                }
            }));
        }
        threads.forEach(Thread::start);
        for (Thread t : threads) {
            t.join(60_000);
        }
        for (int i = 0; i < total; i++) {
            assertEquals(1, seen.get(i), "element " + i);
        }
    }
}
