package io.moeflow.api.testing;

import static io.restassured.RestAssured.given;

/** Waits until the service reports the model loaded (it loads in the background at start-up). */
public final class Ready {
    private Ready() {}

    public static void await() throws InterruptedException {
        long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
        while (given().get("/health").statusCode() != 200) {
            if (System.nanoTime() > deadline) throw new AssertionError("the model did not load: " + given().get("/health").asString());
            Thread.sleep(50);
        }
    }
}
