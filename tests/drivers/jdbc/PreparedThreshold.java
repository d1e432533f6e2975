// JDBC (pgjdbc, Debian libpostgresql-jdbc-java) with prepareThreshold=1 - server-side named
// prepared statements from the first execution - through wedpool in transaction mode: many
// connections over a pool with fewer servers, autocommit and explicit transactions. Every result is
// checked; prints one line "queries=N errors=E wrong=W" and exits non-zero on any failure.
// Usage: java -cp /usr/share/java/postgresql.jar PreparedThreshold.java PORT [THREADS] [ROUNDS] [MINVERSION]
//        (PGUSER, PGPASSWORD, PGDATABASE from the environment)
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicInteger;

public class PreparedThreshold {
    static final AtomicInteger queries = new AtomicInteger(), errors = new AtomicInteger(), wrong = new AtomicInteger();
    static final List<String> messages = new ArrayList<>();

    static synchronized void note(String m) {
        if (messages.size() < 10)
            messages.add(m);
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            wrong.incrementAndGet();
            note("wrong result: " + what);
        }
    }

    static CyclicBarrier start;

    static void work(String url, Properties props, int k, int rounds) throws Exception {
        try (Connection c = DriverManager.getConnection(url, props)) {
            start.await(); /* all connected, then all at once: their transactions interleave on the servers */
            try (PreparedStatement add = c.prepareStatement("SELECT ?::int + ?::int");
                 PreparedStatement mine = c.prepareStatement("SELECT " + k + "::int, ?::text")) {
                for (int i = 0; i < rounds; i++) {
                    add.setInt(1, k);
                    add.setInt(2, i);
                    try (ResultSet r = add.executeQuery()) {
                        check(r.next() && r.getInt(1) == k + i, "add " + k + "+" + i);
                    }
                    mine.setString(1, "r" + i);
                    try (ResultSet r = mine.executeQuery()) {
                        check(r.next() && r.getInt(1) == k && r.getString(2).equals("r" + i), "mine " + k);
                    }
                    queries.addAndGet(2);
                }
            }
            c.setAutoCommit(false);
            try (PreparedStatement ins = c.prepareStatement("INSERT INTO jdbc_named (k, i) VALUES (?, ?)");
                 PreparedStatement cnt = c.prepareStatement("SELECT count(*) FROM jdbc_named WHERE k = ?")) {
                for (int i = 0; i < rounds; i++) {
                    ins.setInt(1, k);
                    ins.setInt(2, i);
                    check(ins.executeUpdate() == 1, "ins " + k);
                    cnt.setInt(1, k);
                    try (ResultSet r = cnt.executeQuery()) {
                        check(r.next() && r.getInt(1) == i + 1, "cnt " + k + " " + i);
                    }
                    c.commit();
                    queries.addAndGet(2);
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 20;
        String url = "jdbc:postgresql://127.0.0.1:" + port + "/" + System.getenv("PGDATABASE");
        Properties props = new Properties();
        props.setProperty("user", System.getenv("PGUSER"));
        props.setProperty("password", System.getenv("PGPASSWORD"));
        props.setProperty("prepareThreshold", "1");
        /* Optional (4th argument): without it pgjdbc sends extra_float_digits=2 at startup, then
         * SET extra_float_digits = 3 once it knows the server's version, which wedpool carries to
         * the client's next servers like a reported setting. */
        if (args.length > 3 && !args[3].isEmpty())
            props.setProperty("assumeMinServerVersion", args[3]);
        props.setProperty("connectTimeout", "10");
        start = new CyclicBarrier(threads);
        List<Thread> ts = new ArrayList<>();
        for (int k = 0; k < threads; k++) {
            final int kk = k;
            Thread t = new Thread(() -> {
                try {
                    work(url, props, kk, rounds);
                } catch (Exception e) {
                    errors.incrementAndGet();
                    note(e.toString());
                }
            });
            ts.add(t);
            t.start();
        }
        for (Thread t : ts)
            t.join();
        System.out.println("queries=" + queries.get() + " errors=" + errors.get() + " wrong=" + wrong.get() + " " + messages);
        System.exit(errors.get() == 0 && wrong.get() == 0 ? 0 : 1);
    }
}
