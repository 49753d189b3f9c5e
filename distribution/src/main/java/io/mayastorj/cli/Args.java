package io.mayastorj.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A parsed command line: positional words and {@code --options} anywhere among them. Options are
 * declared up front as flags (no value) or valued ({@code --name VALUE} or {@code --name=VALUE});
 * anything undeclared is a usage error that lists what is accepted.
 */
final class Args {

    private final List<String> positional;
    private final Map<String, List<String>> options;

    private Args(List<String> positional, Map<String, List<String>> options) {
        this.positional = positional;
        this.options = options;
    }

    static Args parse(List<String> argv, Set<String> flags, Set<String> valued) {
        List<String> positional = new ArrayList<>();
        Map<String, List<String>> options = new LinkedHashMap<>();
        for (int i = 0; i < argv.size(); i++) {
            String arg = argv.get(i);
            if (arg.equals("--")) {
                positional.addAll(argv.subList(i + 1, argv.size()));
                break;
            }
            if (!arg.startsWith("--") || arg.length() == 2) {
                if (arg.equals("-h")) {
                    options.computeIfAbsent("help", k -> new ArrayList<>()).add("true");
                } else {
                    positional.add(arg);
                }
                continue;
            }
            String name = arg.substring(2);
            String value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            if (flags.contains(name)) {
                if (value != null) {
                    throw new UsageException("--" + name + " takes no value");
                }
                value = "true";
            } else if (valued.contains(name)) {
                if (value == null) {
                    if (i + 1 >= argv.size()) {
                        throw new UsageException("--" + name + " needs a value");
                    }
                    value = argv.get(++i);
                }
            } else {
                Set<String> known = new TreeSet<>(flags);
                known.addAll(valued);
                String near = nearest(name, known);
                throw new UsageException("unknown option --" + name + (near != null ? "; did you mean --" + near + "?"
                        : known.isEmpty() ? "" : " (see --help for the options)"));
            }
            options.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
        }
        return new Args(positional, options);
    }

    /** The known option closest to a mistyped one (edit distance at most a third of its length, at least 2), or null. */
    static String nearest(String typed, Set<String> known) {
        String best = null;
        int bestDistance = Math.max(2, typed.length() / 3) + 1;
        for (String k : known) {
            int d = distance(typed, k);
            if (d < bestDistance || k.startsWith(typed) && typed.length() >= 3 && best == null) {
                best = k;
                bestDistance = Math.min(d, bestDistance);
            }
        }
        return best;
    }

    /** Levenshtein distance. */
    private static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitution, Math.min(previous[j] + 1, current[j - 1] + 1));
            }
            int[] t = previous;
            previous = current;
            current = t;
        }
        return previous[b.length()];
    }

    List<String> positional() {
        return positional;
    }

    String positional(int index, String what) {
        if (index >= positional.size()) {
            throw new UsageException(what + " is missing");
        }
        return positional.get(index);
    }

    boolean flag(String name) {
        return options.containsKey(name);
    }

    String option(String name, String fallback) {
        List<String> values = options.get(name);
        return values == null ? fallback : values.get(values.size() - 1);
    }

    List<String> all(String name) {
        return options.getOrDefault(name, List.of());
    }

    long longOption(String name, long fallback) {
        String value = option(name, null);
        if (value == null) {
            return fallback;
        }
        try {
            String digits = value.replace("_", "").strip();
            // decimal, or hex with 0x (an offset); Long.decode read a leading zero as octal: --qd 016 was 14.
            // No sign after 0x: parseLong took 0x-5 for -5
            boolean hex = digits.startsWith("0x") || digits.startsWith("0X");
            if (hex && (digits.length() == 2 || !Character.isLetterOrDigit(digits.charAt(2)))) {
                throw new NumberFormatException(value);
            }
            return hex ? Long.parseLong(digits.substring(2), 16) : Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " " + value + ": not a number");
        }
    }

    /** The names of the options given. */
    java.util.Set<String> names() {
        return options.keySet();
    }

    /** The options as given, for passing on; later ones win. */
    Map<String, String> asMap() {
        Map<String, String> map = new HashMap<>();
        options.forEach((k, v) -> map.put(k, v.get(v.size() - 1)));
        return map;
    }

    /** Rejects positional words beyond {@code max}. */
    Args atMost(int max, String usage) {
        if (positional.size() > max) {
            throw new UsageException("unexpected argument '" + positional.get(max) + "'; usage: " + usage);
        }
        return this;
    }
}
