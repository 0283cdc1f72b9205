package io.moeflow.experts;

import java.util.Locale;

/**
 * Parses an expert cache size: bytes with an optional unit ({@code 2GiB}, {@code 512MB}, {@code 6Gi} as Kubernetes
 * writes it, {@code 1048576}) or a share of the expert bytes ({@code 25%}). Error messages name the option as the user gave it (the command line's
 * {@code --expert-cache 25x}, the service's {@code moeflow.experts.cache=25x}).
 */
public final class ExpertCacheBudget {
    private ExpertCacheBudget() {}

    /** The budget in bytes; {@code totalExpertBytes} is what 100% means. Errors name {@code --expert-cache}. */
    public static long parse(String spec, long totalExpertBytes) {
        return parse(spec, totalExpertBytes, ExpertStoreConfig.OptionNames.FLAGS.show(ExpertStoreConfig.OptionNames.FLAGS.cache(), spec));
    }

    /**
     * Checks {@code spec}'s syntax and range before the model is known (a share's size needs the model's expert
     * bytes; any total checks the share itself); throws as {@link #parse} would, naming the option by {@code shown}.
     */
    static void check(String spec, String shown) {
        parse(spec, 1L << 40, shown);
    }

    /** As {@link #parse(String, long)}; {@code shown} is the option and value as given, for error messages. */
    static long parse(String spec, long totalExpertBytes, String shown) {
        if (spec == null || spec.isBlank()) throw new IllegalArgumentException(shown.strip() + ": empty size (give bytes like 2GiB or a share like 25%)");
        String s = spec.trim();
        try {
            if (s.endsWith("%")) {
                double pct = Double.parseDouble(s.substring(0, s.length() - 1).trim());
                if (!(pct > 0) || pct > 100 || Double.isNaN(pct))
                    throw new IllegalArgumentException(shown + ": a share must be in (0%, 100%]");
                return Math.max(1, (long) Math.floor(totalExpertBytes * (pct / 100.0)));
            }
            int i = 0;
            while (i < s.length() && (Character.isDigit(s.charAt(i)) || s.charAt(i) == '.')) i++;
            if (i == 0) throw new NumberFormatException();
            double number = Double.parseDouble(s.substring(0, i));
            long unit = unit(s.substring(i).trim().toLowerCase(Locale.ROOT), shown);
            double bytes = number * unit;
            if (!(bytes >= 1) || bytes > Long.MAX_VALUE / 2)
                throw new IllegalArgumentException(shown + ": size must be at least 1 byte and below 4 EiB");
            return (long) bytes;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(shown + ": not a size (give bytes like 2GiB, 512MB, 1048576, or a share like 25%)");
        }
    }

    private static long unit(String u, String shown) {
        return switch (u) {
            case "", "b" -> 1L;
            case "k", "kb" -> 1_000L;
            case "kib", "ki" -> 1L << 10; // Ki, Mi, Gi, Ti as in Kubernetes quantities
            case "m", "mb" -> 1_000_000L;
            case "mib", "mi" -> 1L << 20;
            case "g", "gb" -> 1_000_000_000L;
            case "gib", "gi" -> 1L << 30;
            case "t", "tb" -> 1_000_000_000_000L;
            case "tib", "ti" -> 1L << 40;
            default -> throw new IllegalArgumentException(shown + ": unknown unit '" + u + "' (use B, KB, KiB, MB, MiB, GB, GiB, TB, TiB, Ki, Mi, Gi, Ti or %)");
        };
    }
}
