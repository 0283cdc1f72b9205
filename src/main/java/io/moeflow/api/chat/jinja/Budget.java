package io.moeflow.api.chat.jinja;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The limits of one render, checked as it goes so that no template and no request can run for long or build huge
 * values: the CPU time the render may use (the rendering thread's CPU time, so that a busy machine does not cut a
 * legitimate render short; wall-clock time where the JVM cannot measure it), the thread's interrupt flag, the most
 * characters of any string and of the output, the most items of any list or dict, and the deepest nesting of macro
 * calls.
 */
final class Budget {
    /** jinja2's sandbox refuses larger ranges (MAX_RANGE); so do we. */
    static final int MAX_RANGE = 100_000;

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final boolean CPU_TIME = THREADS.isCurrentThreadCpuTimeSupported();

    private final RenderLimits limits;
    private final long deadline;
    private long steps;
    private int depth;

    Budget(RenderLimits limits) {
        this.limits = limits;
        this.deadline = now() + limits.timeout().toNanos();
    }

    private static long now() {
        return CPU_TIME ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
    }

    /** One evaluation step; every 1024 steps the clock and the thread's interrupt flag are checked. */
    void step() {
        if ((++steps & 1023) == 0) {
            if (now() - deadline > 0) {
                throw TemplateException.limit("the chat template used more than its limit of " + limits.timeout().toMillis() + " ms of CPU time");
            }
            if (Thread.currentThread().isInterrupted()) throw TemplateException.limit("the chat template render was interrupted");
        }
    }

    /** Refuses a string (or the output) of more than the character limit. */
    void chars(long n) {
        if (n > limits.maxChars()) {
            throw TemplateException.limit("the chat template would produce more than " + limits.maxChars() + " characters");
        }
    }

    void items(long n) {
        if (n > limits.maxItems()) {
            throw TemplateException.limit("the chat template would build a collection of more than " + limits.maxItems() + " items");
        }
    }

    void enter() {
        if (++depth > limits.maxDepth()) {
            depth--;
            throw TemplateException.limit("the chat template nests deeper than " + limits.maxDepth() + " levels (macro recursion?)");
        }
    }

    void exit() {
        depth--;
    }
}
