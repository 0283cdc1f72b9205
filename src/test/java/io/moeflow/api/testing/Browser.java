package io.moeflow.api.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * Headless Chromium for the playground tests (Debian's chromium and chromedriver; the calling test is skipped
 * without them), with a throw-away profile, and the few reads and writes of page elements the tests share.
 */
public final class Browser implements AutoCloseable {
    public final WebDriver driver;
    public final WebDriverWait wait;
    private final Path profile;

    private Browser(WebDriver driver, Path profile) {
        this.driver = driver;
        this.profile = profile;
        this.wait = new WebDriverWait(driver, KafkaClient.WAIT);
    }

    /** Starts Chromium, or skips the calling test when it is not installed. */
    public static Browser start() throws IOException {
        Path chromium = onPath("chromium").orElse(null);
        Path chromedriver = onPath("chromedriver").orElse(null);
        assumeTrue(chromium != null, "chromium is not installed (apt-get install chromium)");
        assumeTrue(chromedriver != null, "chromedriver is not installed (apt-get install chromium-driver)");
        Path profile = Files.createTempDirectory("moeflow-chromium-");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(chromedriver.toFile()).usingAnyFreePort().build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1600", "--user-data-dir=" + profile);
        return new Browser(new ChromeDriver(service, options), profile);
    }

    public void type(String id, String value) {
        WebElement input = driver.findElement(By.id(id));
        input.clear();
        input.sendKeys(value);
    }

    public void click(String id) {
        driver.findElement(By.id(id)).click();
    }

    public String state(String id) {
        return driver.findElement(By.id(id)).getDomAttribute("data-state");
    }

    /** The element's text as the page set it (getText() would fold its whitespace). */
    public String text(String id) {
        return driver.findElement(By.id(id)).getDomProperty("textContent");
    }

    /** Waits until the status element {@code id} leaves idle/running, and returns its state. */
    public String awaitSettled(String id) {
        wait.until(d -> !List.of("idle", "running").contains(state(id)));
        return state(id);
    }

    @Override
    public void close() throws IOException {
        try {
            driver.quit();
        } finally {
            deleteTree(profile);
        }
    }

    private static Optional<Path> onPath(String command) {
        String path = System.getenv("PATH");
        if (path == null) return Optional.empty();
        return Stream.of(path.split(File.pathSeparator)).map(dir -> Path.of(dir, command))
                .filter(Files::isExecutable).findFirst();
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) return;
        List<Path> paths;
        try (Stream<Path> walk = Files.walk(root)) {
            paths = new ArrayList<>(walk.sorted(Comparator.reverseOrder()).toList());
        }
        for (Path p : paths) Files.deleteIfExists(p);
    }
}
