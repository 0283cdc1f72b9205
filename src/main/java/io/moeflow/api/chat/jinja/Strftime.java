package io.moeflow.api.chat.jinja;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.time.temporal.IsoFields;
import java.util.Locale;

/**
 * Python's datetime.strftime for a naive local time as glibc formats it in the C locale (the directives chat
 * templates use, such as "%d %b %Y" and "%Y-%m-%d"); glibc's "-" flag drops the padding; unknown directives are
 * kept as written.
 */
final class Strftime {
    private Strftime() {}

    static String format(String format, LocalDateTime t) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 >= format.length()) {
                out.append(c);
                continue;
            }
            boolean noPad = format.charAt(i + 1) == '-' && i + 2 < format.length();
            char d = format.charAt(noPad ? i + 2 : i + 1);
            String v = directive(d, t, noPad);
            if (v == null) {
                out.append(format, i, noPad ? i + 3 : i + 2);
            } else {
                out.append(v);
            }
            i += noPad ? 2 : 1;
        }
        return out.toString();
    }

    private static String pad(int v, int width, boolean noPad, char fill) {
        String s = Integer.toString(v);
        if (noPad || s.length() >= width) return s;
        return String.valueOf(fill).repeat(width - s.length()) + s;
    }

    private static String directive(char d, LocalDateTime t, boolean noPad) {
        int hour12 = t.getHour() % 12 == 0 ? 12 : t.getHour() % 12;
        return switch (d) {
            case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US);
            case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US);
            case 'w' -> Integer.toString(t.getDayOfWeek().getValue() % 7);
            case 'u' -> Integer.toString(t.getDayOfWeek().getValue());
            case 'd' -> pad(t.getDayOfMonth(), 2, noPad, '0');
            case 'e' -> pad(t.getDayOfMonth(), 2, noPad, ' ');
            case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US);
            case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.US);
            case 'm' -> pad(t.getMonthValue(), 2, noPad, '0');
            case 'y' -> pad(t.getYear() % 100, 2, noPad, '0');
            case 'Y' -> Integer.toString(t.getYear());
            case 'C' -> pad(t.getYear() / 100, 2, noPad, '0');
            case 'H' -> pad(t.getHour(), 2, noPad, '0');
            case 'k' -> pad(t.getHour(), 2, noPad, ' ');
            case 'I' -> pad(hour12, 2, noPad, '0');
            case 'l' -> pad(hour12, 2, noPad, ' ');
            case 'p' -> t.getHour() < 12 ? "AM" : "PM";
            case 'M' -> pad(t.getMinute(), 2, noPad, '0');
            case 'S' -> pad(t.getSecond(), 2, noPad, '0');
            case 'f' -> pad(t.getNano() / 1000, 6, false, '0');
            case 'j' -> pad(t.getDayOfYear(), 3, noPad, '0');
            case 'U' -> pad((t.getDayOfYear() + 6 - t.getDayOfWeek().getValue() % 7) / 7, 2, noPad, '0');
            case 'W' -> pad((t.getDayOfYear() + 6 - (t.getDayOfWeek().getValue() + 6) % 7) / 7, 2, noPad, '0');
            case 'V' -> pad(t.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR), 2, noPad, '0');
            case 'G' -> Integer.toString(t.get(IsoFields.WEEK_BASED_YEAR));
            case 'D' -> directive('m', t, false) + "/" + directive('d', t, false) + "/" + directive('y', t, false);
            case 'F' -> directive('Y', t, false) + "-" + directive('m', t, false) + "-" + directive('d', t, false);
            case 'T' -> directive('H', t, false) + ":" + directive('M', t, false) + ":" + directive('S', t, false);
            case 'R' -> directive('H', t, false) + ":" + directive('M', t, false);
            case 'c' -> directive('a', t, false) + " " + directive('b', t, false) + " " + directive('e', t, false) + " "
                    + directive('T', t, false) + " " + directive('Y', t, false);
            case 'x' -> directive('D', t, false);
            case 'X' -> directive('T', t, false);
            case 'z', 'Z' -> "";
            case 'n' -> "\n";
            case 't' -> "\t";
            case '%' -> "%";
            default -> null;
        };
    }

}
