package io.moeflow.api.http;

import io.quarkus.runtime.StartupEvent;
import io.quarkus.runtime.annotations.RegisterForReflection;
import io.vertx.core.Handler;
import io.vertx.core.Verticle;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.impl.HttpServerConnection;
import io.vertx.core.impl.Deployment;
import io.vertx.core.impl.VertxInternal;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.lang.reflect.Field;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Hooks into the HTTP servers Quarkus starts, for what happens before a request reaches the router: the answer to a
 * request Vert.x cannot decode (request line or headers over the limits, a garbage Content-Length), which Vert.x
 * otherwise sends as a bare status with an empty body, and the opening of each connection (for the header
 * timeout), and every request before Quarkus' own request handler (which refuses an invalid URI or an oversized
 * Content-Length with an empty answer). Quarkus 3.33 offers no hook for these (quarkusio/quarkus#55082): the
 * server's per-connection handler is reached by reflection and its two handlers are wrapped once, after the servers
 * listen; the connection handler sets the public {@link HttpServerConnection#invalidRequestHandler} on every new
 * connection. If the Vert.x or Quarkus internals change, start-up logs a warning and the service runs without these
 * behaviours (their tests fail).
 */
@ApplicationScoped
@RegisterForReflection(classNames = {"io.quarkus.vertx.http.runtime.VertxHttpRecorder$WebDeploymentVerticle",
        "io.vertx.core.net.impl.TCPServerBase", "io.vertx.core.http.impl.HttpServerWorker",
        "io.vertx.core.http.impl.HttpServerConnectionHandler"}, fields = true, methods = false)
public class VertxServerHooks {
    private static final Logger LOG = Logger.getLogger(VertxServerHooks.class);
    private static final String QUARKUS_VERTICLE = "io.quarkus.vertx.http.runtime.VertxHttpRecorder$WebDeploymentVerticle";
    private static final long INSTALL_WAIT_MS = 30_000;

    @Inject
    Vertx vertx;
    @Inject
    MalformedRequests malformed;
    @Inject
    SlowClients slowClients;

    private final Set<Object> hooked = Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));
    private final CountDownLatch firstHook = new CountDownLatch(1);
    private volatile String problem;

    /**
     * Quarkus opens the socket after the start-up observers ran, so the servers are looked for again until every
     * server of Quarkus' HTTP verticles is hooked.
     */
    void onStart(@Observes StartupEvent event) {
        long started = System.currentTimeMillis();
        vertx.setPeriodic(10, 20, timer -> {
            try {
                int pending = installOnListeningServers();
                if (pending == 0 && !hooked.isEmpty()) {
                    vertx.cancelTimer(timer);
                    LOG.debugf("HTTP connection hooks installed on %d servers", hooked.size());
                } else if (System.currentTimeMillis() - started > INSTALL_WAIT_MS) {
                    vertx.cancelTimer(timer);
                    if (hooked.isEmpty()) fail("no listening Quarkus HTTP server was found");
                }
            } catch (ReflectiveOperationException | RuntimeException e) {
                vertx.cancelTimer(timer);
                fail(e.toString());
            }
        });
    }

    private void fail(String why) {
        problem = why;
        LOG.warnf("HTTP: could not hook into the Vert.x HTTP server (%s): requests Vert.x cannot decode get an empty"
                + " answer, and the header timeout (moeflow.http.header-timeout) is not enforced", why);
        firstHook.countDown();
    }

    /** Waits (for tests) until the servers are hooked; false if they could not be. */
    public boolean awaitInstalled(long timeoutMs) throws InterruptedException {
        return firstHook.await(timeoutMs, TimeUnit.MILLISECONDS) && problem == null;
    }

    /** Hooks every listening server not hooked yet; returns how many servers are not listening yet. */
    private int installOnListeningServers() throws ReflectiveOperationException {
        VertxInternal internal = (VertxInternal) vertx;
        int pending = 0;
        for (String id : internal.deploymentIDs()) {
            Deployment deployment = internal.getDeployment(id);
            if (deployment == null) continue;
            for (Verticle verticle : deployment.getVerticles()) {
                if (!verticle.getClass().getName().equals(QUARKUS_VERTICLE)) continue;
                for (String name : new String[] {"httpServer", "httpsServer"}) {
                    HttpServer server = (HttpServer) read(verticle, verticle.getClass(), name);
                    if (server == null || hooked.contains(server)) continue;
                    if (install(server)) {
                        hooked.add(server);
                        firstHook.countDown();
                    } else {
                        pending++;
                    }
                }
            }
        }
        return pending;
    }

    /** False while the server does not listen yet (its connection handler is made by listen()). */
    @SuppressWarnings("unchecked")
    private boolean install(HttpServer server) throws ReflectiveOperationException {
        Class<?> tcpServerBase = Class.forName("io.vertx.core.net.impl.TCPServerBase");
        Object worker = read(server, tcpServerBase, "childHandler"); // HttpServerWorker
        if (worker == null) return false;
        Object connections = read(worker, worker.getClass(), "connectionHandler"); // HttpServerConnectionHandler
        Field requests = connections.getClass().getDeclaredField("requestHandler");
        requests.setAccessible(true);
        requests.set(connections, malformed.before((Handler<HttpServerRequest>) requests.get(connections)));
        Field field = connections.getClass().getDeclaredField("connectionHandler");
        field.setAccessible(true);
        Handler<HttpConnection> previous = (Handler<HttpConnection>) field.get(connections);
        Handler<HttpServerRequest> invalid = malformed::answer;
        Handler<HttpConnection> hook = connection -> {
            if (previous != null) previous.handle(connection);
            if (connection instanceof HttpServerConnection serverConnection) serverConnection.invalidRequestHandler(invalid);
            slowClients.opened(connection);
        };
        field.set(connections, hook);
        return true;
    }

    private static Object read(Object target, Class<?> owner, String name) throws ReflectiveOperationException {
        Field field = owner.getDeclaredField(name);
        field.setAccessible(true);
        return field.get(target);
    }
}
