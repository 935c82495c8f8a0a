import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs a script of JDBC calls through the Arrow Flight SQL JDBC driver and prints one JSON line per
 * step, for tests/test_jdbc.py to assert on: one JVM for many steps.
 *
 * <p>Each line of standard input is one JSON object, a step: {"op": "connect", "url": ..., "props":
 * {...}} opens the connection the next steps use (closing the previous one); "update" and
 * "execute" run {"sql"} with a Statement, "statementBatch" each of {"sqls"} with addBatch and
 * executeBatch; "query", "count", "prepared", "batch", "meta", "getters" and "cancel" are described at
 * their methods. A step that throws prints {"error": class, "message": ..., "sqlState": ..., "causes":
 * [...]}; the script goes on.
 */
public final class JdbcProbe {
  private Connection connection;

  public static void main(String[] args) throws Exception {
    JdbcProbe probe = new JdbcProbe();
    java.io.BufferedReader input =
        new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = input.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      @SuppressWarnings("unchecked")
      Map<String, Object> step = (Map<String, Object>) new Json(line).value();
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("op", step.get("op"));
      long started = System.nanoTime();
      try {
        probe.run(step, out);
      } catch (Throwable error) {
        out.put("error", error.getClass().getName());
        out.put("message", error.getMessage());
        if (error instanceof SQLException) {
          out.put("sqlState", ((SQLException) error).getSQLState());
        }
        List<Object> causes = new ArrayList<>();
        for (Throwable cause = error.getCause(); cause != null; cause = cause.getCause()) {
          causes.add(cause.getClass().getName() + ": " + cause.getMessage());
        }
        out.put("causes", causes);
        StackTraceElement[] frames = error.getStackTrace();
        out.put("at", frames.length > 0 ? frames[0].toString() : null);
      }
      out.put("ms", (System.nanoTime() - started) / 1_000_000);
      System.out.println(Json.write(out));
      System.out.flush();
    }
    if (probe.connection != null) {
      try {
        probe.connection.close();
      } catch (SQLException error) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("op", "close");
        out.put("error", error.getMessage());
        System.out.println(Json.write(out));
      }
    }
  }

  private void run(Map<String, Object> step, Map<String, Object> out) throws Exception {
    String op = (String) step.get("op");
    switch (op) {
      case "connect":
        connect(step, out);
        break;
      case "query":
        query(step, out);
        break;
      case "count":
        count(step, out);
        break;
      case "update":
        try (Statement statement = connection.createStatement()) {
          out.put("count", statement.executeUpdate((String) step.get("sql")));
        }
        break;
      case "execute":
        try (Statement statement = connection.createStatement()) {
          boolean isResultSet = statement.execute((String) step.get("sql"));
          out.put("resultSet", isResultSet);
          out.put("updateCount", statement.getUpdateCount());
        }
        break;
      case "prepared":
        prepared(step, out);
        break;
      case "batch":
        batch(step, out);
        break;
      case "statementBatch":
        try (Statement statement = connection.createStatement()) {
          for (Object sql : asList(step.get("sqls"))) {
            statement.addBatch((String) sql);
          }
          List<Object> counts = new ArrayList<>();
          for (int count : statement.executeBatch()) {
            counts.add(count);
          }
          out.put("counts", counts);
        }
        break;
      case "meta":
        meta(step, out);
        break;
      case "getters":
        getters(step, out);
        break;
      case "cancel":
        cancel(step, out);
        break;
      default:
        throw new IllegalArgumentException("unknown op " + op);
    }
  }

  /**
   * {"url", "props": {name: value}}: a new connection (the previous one closed: an error closing it
   * is reported as previousCloseError); {"catalog", "schema"} it reports.
   */
  private void connect(Map<String, Object> step, Map<String, Object> out) throws SQLException {
    if (connection != null) {
      try {
        connection.close();
      } catch (SQLException error) {
        out.put("previousCloseError", error.getMessage());
      }
      connection = null;
    }
    Properties properties = new Properties();
    @SuppressWarnings("unchecked")
    Map<String, Object> props = (Map<String, Object>) step.getOrDefault("props", Map.of());
    for (Map.Entry<String, Object> entry : props.entrySet()) {
      properties.setProperty(entry.getKey(), String.valueOf(entry.getValue()));
    }
    connection = DriverManager.getConnection((String) step.get("url"), properties);
    out.put("catalog", connection.getCatalog());
    out.put("schema", connection.getSchema());
    out.put("driver", connection.getMetaData().getDriverVersion());
  }

  private Statement statement(Map<String, Object> step) throws SQLException {
    Statement statement = connection.createStatement();
    if (step.containsKey("timeout")) {
      statement.setQueryTimeout(((Number) step.get("timeout")).intValue());
    }
    if (step.containsKey("maxRows")) {
      statement.setMaxRows(((Number) step.get("maxRows")).intValue());
    }
    return statement;
  }

  /** {"sql", "timeout"?, "maxRows"?}: the columns' metadata and every row (getObject, as text). */
  private void query(Map<String, Object> step, Map<String, Object> out) throws SQLException {
    try (Statement statement = statement(step);
        ResultSet results = statement.executeQuery((String) step.get("sql"))) {
      putResults(results, out);
    }
  }

  /**
   * {"sql", "props"?}: count the rows; sum and count the distinct values of the first column (a
   * non-negative long) without keeping the rows.
   */
  private void count(Map<String, Object> step, Map<String, Object> out) throws SQLException {
    long rows = 0;
    long sum = 0;
    BitSet seen = new BitSet();
    long firstRowMs = -1;
    long started = System.nanoTime();
    try (Statement statement = statement(step);
        ResultSet results = statement.executeQuery((String) step.get("sql"))) {
      while (results.next()) {
        if (rows == 0) {
          firstRowMs = (System.nanoTime() - started) / 1_000_000;
        }
        long value = results.getLong(1);
        rows++;
        sum += value;
        seen.set((int) value);
      }
    }
    out.put("count", rows);
    out.put("sum", sum);
    out.put("distinct", seen.cardinality());
    out.put("firstRowMs", firstRowMs);
  }

  /**
   * {"sql", "params": [[type, value], ...], "executeUpdate"?}: executed (execute(), or executeUpdate()
   * when asked); its rows or its update count.
   */
  private void prepared(Map<String, Object> step, Map<String, Object> out) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement((String) step.get("sql"))) {
      @SuppressWarnings("unchecked")
      List<Object> params = (List<Object>) step.getOrDefault("params", List.of());
      bind(statement, params);
      out.put("parameterCount", statement.getParameterMetaData().getParameterCount());
      if (Boolean.TRUE.equals(step.get("executeUpdate"))) {
        out.put("updateCount", statement.executeUpdate());
      } else if (statement.execute()) {
        try (ResultSet results = statement.getResultSet()) {
          putResults(results, out);
        }
      } else {
        out.put("updateCount", statement.getUpdateCount());
      }
    }
  }

  /** {"sql", "rows": [[[type, value], ...], ...]}: each row added with addBatch; executeBatch's counts. */
  private void batch(Map<String, Object> step, Map<String, Object> out) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement((String) step.get("sql"))) {
      @SuppressWarnings("unchecked")
      List<Object> rows = (List<Object>) step.get("rows");
      for (Object row : rows) {
        @SuppressWarnings("unchecked")
        List<Object> params = (List<Object>) row;
        bind(statement, params);
        statement.addBatch();
      }
      List<Object> counts = new ArrayList<>();
      for (int count : statement.executeBatch()) {
        counts.add(count);
      }
      out.put("counts", counts);
    }
  }

  private static void bind(PreparedStatement statement, List<Object> params) throws SQLException {
    int index = 1;
    for (Object param : params) {
      @SuppressWarnings("unchecked")
      List<Object> typed = (List<Object>) param;
      String type = (String) typed.get(0);
      Object value = typed.get(1);
      switch (type) {
        case "int":
          statement.setInt(index, ((Number) value).intValue());
          break;
        case "long":
          statement.setLong(index, ((Number) value).longValue());
          break;
        case "double":
          statement.setDouble(index, ((Number) value).doubleValue());
          break;
        case "decimal":
          statement.setBigDecimal(index, new BigDecimal((String) value));
          break;
        case "string":
          statement.setString(index, (String) value);
          break;
        case "boolean":
          statement.setBoolean(index, (Boolean) value);
          break;
        case "date":
          statement.setDate(index, java.sql.Date.valueOf((String) value));
          break;
        case "timestamp":
          statement.setTimestamp(index, java.sql.Timestamp.valueOf((String) value));
          break;
        case "null":
          statement.setNull(index, jdbcType((String) value));
          break;
        default:
          throw new IllegalArgumentException("unknown parameter type " + type);
      }
      index++;
    }
  }

  private static int jdbcType(String name) {
    try {
      return Types.class.getField(name).getInt(null);
    } catch (ReflectiveOperationException error) {
      throw new IllegalArgumentException("unknown java.sql.Types name " + name, error);
    }
  }

  /** {"call", "args"}: a DatabaseMetaData method by name; its result set, or its value. */
  private void meta(Map<String, Object> step, Map<String, Object> out) throws SQLException {
    DatabaseMetaData metaData = connection.getMetaData();
    List<Object> args = asList(step.get("args"));
    String call = (String) step.get("call");
    ResultSet results;
    switch (call) {
      case "getCatalogs":
        results = metaData.getCatalogs();
        break;
      case "getSchemas":
        results =
            args.isEmpty()
                ? metaData.getSchemas()
                : metaData.getSchemas((String) args.get(0), (String) args.get(1));
        break;
      case "getTables":
        List<Object> types = asList(args.get(3));
        results =
            metaData.getTables(
                (String) args.get(0),
                (String) args.get(1),
                (String) args.get(2),
                args.get(3) == null ? null : types.toArray(new String[0]));
        break;
      case "getColumns":
        results =
            metaData.getColumns(
                (String) args.get(0), (String) args.get(1), (String) args.get(2), (String) args.get(3));
        break;
      case "getTypeInfo":
        results = metaData.getTypeInfo();
        break;
      case "getTableTypes":
        results = metaData.getTableTypes();
        break;
      case "getPrimaryKeys":
        results =
            metaData.getPrimaryKeys((String) args.get(0), (String) args.get(1), (String) args.get(2));
        break;
      case "getImportedKeys":
        results =
            metaData.getImportedKeys((String) args.get(0), (String) args.get(1), (String) args.get(2));
        break;
      case "getExportedKeys":
        results =
            metaData.getExportedKeys((String) args.get(0), (String) args.get(1), (String) args.get(2));
        break;
      case "getIndexInfo":
        results =
            metaData.getIndexInfo(
                (String) args.get(0), (String) args.get(1), (String) args.get(2), false, true);
        break;
      case "info":
        out.put("productName", metaData.getDatabaseProductName());
        out.put("productVersion", metaData.getDatabaseProductVersion());
        out.put("identifierQuote", metaData.getIdentifierQuoteString());
        out.put("catalogSeparator", metaData.getCatalogSeparator());
        out.put("catalogTerm", metaData.getCatalogTerm());
        out.put("schemaTerm", metaData.getSchemaTerm());
        out.put("supportsTransactions", metaData.supportsTransactions());
        out.put("readOnly", metaData.isReadOnly());
        out.put("sqlKeywords", metaData.getSQLKeywords());
        return;
      default:
        throw new IllegalArgumentException("unknown DatabaseMetaData call " + call);
    }
    try (ResultSet rows = results) {
      putResults(rows, out);
    }
  }

  /** {"sql"}: every column of the first row through the getters that apply to its JDBC type. */
  private void getters(Map<String, Object> step, Map<String, Object> out) throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet results = statement.executeQuery((String) step.get("sql"))) {
      ResultSetMetaData metaData = results.getMetaData();
      if (!results.next()) {
        throw new IllegalStateException("no row");
      }
      Map<String, Object> columns = new LinkedHashMap<>();
      for (int i = 1; i <= metaData.getColumnCount(); i++) {
        Map<String, Object> column = new LinkedHashMap<>();
        int index = i;
        column.put("type", metaData.getColumnType(i));
        column.put("typeName", metaData.getColumnTypeName(i));
        column.put("className", attempt(() -> metaData.getColumnClassName(index)));
        column.put("precision", attempt(() -> metaData.getPrecision(index)));
        column.put("scale", attempt(() -> metaData.getScale(index)));
        column.put(
            "objectClass",
            attempt(
                () -> {
                  Object value = results.getObject(index);
                  return value == null ? null : value.getClass().getName();
                }));
        column.put("object", attempt(() -> results.getObject(index)));
        column.put("string", attempt(() -> results.getString(index)));
        switch (metaData.getColumnType(i)) {
          case Types.TINYINT:
          case Types.SMALLINT:
          case Types.INTEGER:
          case Types.BIGINT:
            column.put("long", attempt(() -> results.getLong(index)));
            column.put("int", attempt(() -> results.getInt(index)));
            break;
          case Types.FLOAT:
          case Types.REAL:
          case Types.DOUBLE:
            column.put("double", attempt(() -> results.getDouble(index)));
            break;
          case Types.DECIMAL:
          case Types.NUMERIC:
            column.put("bigDecimal", attempt(() -> results.getBigDecimal(index).toPlainString()));
            break;
          case Types.BOOLEAN:
          case Types.BIT:
            column.put("boolean", attempt(() -> results.getBoolean(index)));
            break;
          case Types.DATE:
            column.put("date", attempt(() -> String.valueOf(results.getDate(index))));
            break;
          case Types.TIMESTAMP:
          case Types.TIMESTAMP_WITH_TIMEZONE:
            column.put("timestamp", attempt(() -> String.valueOf(results.getTimestamp(index))));
            column.put(
                "epochMillis", attempt(() -> results.getTimestamp(index).toInstant().toEpochMilli()));
            column.put(
                "instant", attempt(() -> String.valueOf(results.getObject(index, java.time.Instant.class))));
            column.put(
                "localDateTime",
                attempt(() -> String.valueOf(results.getObject(index, java.time.LocalDateTime.class))));
            break;
          case Types.BINARY:
          case Types.VARBINARY:
          case Types.LONGVARBINARY:
            column.put("bytes", attempt(() -> results.getBytes(index).length));
            break;
          case Types.ARRAY:
            column.put(
                "array",
                attempt(
                    () -> {
                      Array array = results.getArray(index);
                      return text(array.getArray());
                    }));
            break;
          default:
            break;
        }
        columns.put(metaData.getColumnLabel(i), column);
      }
      out.put("columns", columns);
    }
  }

  /**
   * {"sql", "afterRows"}: read on a thread of its own; once it read afterRows rows, cancel() from
   * this one; what the reading thread saw.
   */
  private void cancel(Map<String, Object> step, Map<String, Object> out) throws Exception {
    long afterRows = ((Number) step.getOrDefault("afterRows", 1)).longValue();
    Statement statement = connection.createStatement();
    CountDownLatch started = new CountDownLatch(1);
    AtomicLong read = new AtomicLong();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread reader =
        new Thread(
            () -> {
              try (ResultSet results = statement.executeQuery((String) step.get("sql"))) {
                while (results.next()) {
                  if (read.incrementAndGet() == afterRows) {
                    started.countDown();
                  }
                }
              } catch (Throwable error) {
                failure.set(error);
              } finally {
                started.countDown();
              }
            });
    reader.start();
    started.await();
    long cancelled = System.nanoTime();
    statement.cancel();
    reader.join(TimeUnit.SECONDS.toMillis(120));
    out.put("readerEnded", !reader.isAlive());
    out.put("endedAfterCancelMs", (System.nanoTime() - cancelled) / 1_000_000);
    out.put("rowsRead", read.get());
    Throwable error = failure.get();
    out.put("readerError", error == null ? null : error.getClass().getName() + ": " + error.getMessage());
    statement.close();
  }

  private static void putResults(ResultSet results, Map<String, Object> out) throws SQLException {
    ResultSetMetaData metaData = results.getMetaData();
    List<Object> columns = new ArrayList<>();
    for (int i = 1; i <= metaData.getColumnCount(); i++) {
      Map<String, Object> column = new LinkedHashMap<>();
      column.put("label", metaData.getColumnLabel(i));
      column.put("type", metaData.getColumnType(i));
      column.put("typeName", metaData.getColumnTypeName(i));
      columns.add(column);
    }
    List<Object> rows = new ArrayList<>();
    while (results.next()) {
      Map<String, Object> row = new LinkedHashMap<>();
      for (int i = 1; i <= metaData.getColumnCount(); i++) {
        row.put(metaData.getColumnLabel(i), text(results.getObject(i)));
      }
      rows.add(row);
    }
    out.put("columns", columns);
    out.put("rows", rows);
  }

  /** A value as JSON can carry it: numbers and booleans as they are, arrays and lists as lists. */
  private static Object text(Object value) {
    if (value == null || value instanceof Boolean || value instanceof Long || value instanceof Integer
        || value instanceof Short || value instanceof Byte) {
      return value;
    }
    if (value instanceof Double || value instanceof Float) {
      return value;
    }
    if (value instanceof BigDecimal) {
      return ((BigDecimal) value).toPlainString();
    }
    if (value instanceof byte[]) {
      return "bytes:" + ((byte[]) value).length;
    }
    if (value instanceof Object[]) {
      List<Object> items = new ArrayList<>();
      for (Object item : (Object[]) value) {
        items.add(text(item));
      }
      return items;
    }
    if (value instanceof List) {
      List<Object> items = new ArrayList<>();
      for (Object item : (List<?>) value) {
        items.add(text(item));
      }
      return items;
    }
    if (value instanceof Map) {
      Map<String, Object> entries = new LinkedHashMap<>();
      for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
        entries.put(String.valueOf(entry.getKey()), text(entry.getValue()));
      }
      return entries;
    }
    if (value instanceof Array) {
      try {
        return text(((Array) value).getArray());
      } catch (SQLException error) {
        return "Array: " + error.getMessage();
      }
    }
    return value.toString();
  }

  private interface Getter {
    Object get() throws Exception;
  }

  private static Object attempt(Getter getter) {
    try {
      return text(getter.get());
    } catch (Exception error) {
      StackTraceElement[] frames = error.getStackTrace();
      return Map.of(
          "error",
          error.getClass().getName() + ": " + error.getMessage(),
          "at",
          frames.length > 0 ? frames[0].toString() : "");
    }
  }

  private static List<Object> asList(Object value) {
    if (value == null) {
      return List.of();
    }
    @SuppressWarnings("unchecked")
    List<Object> list = (List<Object>) value;
    return list;
  }

  /** Just enough JSON for the steps read and the lines printed. */
  static final class Json {
    private final String text;
    private int at;

    Json(String text) {
      this.text = text;
    }

    Object value() {
      skip();
      char c = text.charAt(at);
      if (c == '{') {
        Map<String, Object> object = new LinkedHashMap<>();
        at++;
        skip();
        if (text.charAt(at) == '}') {
          at++;
          return object;
        }
        while (true) {
          skip();
          String key = (String) value();
          skip();
          at++; // ':'
          object.put(key, value());
          skip();
          if (text.charAt(at++) == '}') {
            return object;
          }
        }
      }
      if (c == '[') {
        List<Object> array = new ArrayList<>();
        at++;
        skip();
        if (text.charAt(at) == ']') {
          at++;
          return array;
        }
        while (true) {
          array.add(value());
          skip();
          if (text.charAt(at++) == ']') {
            return array;
          }
        }
      }
      if (c == '"') {
        StringBuilder string = new StringBuilder();
        at++;
        while (text.charAt(at) != '"') {
          char d = text.charAt(at++);
          if (d == '\\') {
            char e = text.charAt(at++);
            switch (e) {
              case 'n':
                string.append('\n');
                break;
              case 't':
                string.append('\t');
                break;
              case 'r':
                string.append('\r');
                break;
              case 'b':
                string.append('\b');
                break;
              case 'f':
                string.append('\f');
                break;
              case 'u':
                string.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                at += 4;
                break;
              default:
                string.append(e);
            }
          } else {
            string.append(d);
          }
        }
        at++;
        return string.toString();
      }
      if (text.startsWith("true", at)) {
        at += 4;
        return Boolean.TRUE;
      }
      if (text.startsWith("false", at)) {
        at += 5;
        return Boolean.FALSE;
      }
      if (text.startsWith("null", at)) {
        at += 4;
        return null;
      }
      int start = at;
      while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) {
        at++;
      }
      String number = text.substring(start, at);
      if (number.contains(".") || number.contains("e") || number.contains("E")) {
        return Double.parseDouble(number);
      }
      return Long.parseLong(number);
    }

    private void skip() {
      while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
        at++;
      }
    }

    static String write(Object value) {
      StringBuilder out = new StringBuilder();
      write(value, out);
      return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
      if (value == null) {
        out.append("null");
      } else if (value instanceof Boolean || value instanceof Long || value instanceof Integer
          || value instanceof Short || value instanceof Byte) {
        out.append(value);
      } else if (value instanceof Double || value instanceof Float) {
        double number = ((Number) value).doubleValue();
        if (Double.isFinite(number)) {
          out.append(number);
        } else {
          write(String.valueOf(number), out);
        }
      } else if (value instanceof Map) {
        out.append('{');
        Iterator<? extends Map.Entry<?, ?>> entries = ((Map<?, ?>) value).entrySet().iterator();
        while (entries.hasNext()) {
          Map.Entry<?, ?> entry = entries.next();
          write(String.valueOf(entry.getKey()), out);
          out.append(':');
          write(entry.getValue(), out);
          if (entries.hasNext()) {
            out.append(',');
          }
        }
        out.append('}');
      } else if (value instanceof List) {
        out.append('[');
        Iterator<?> items = ((List<?>) value).iterator();
        while (items.hasNext()) {
          write(items.next(), out);
          if (items.hasNext()) {
            out.append(',');
          }
        }
        out.append(']');
      } else {
        String string = value.toString();
        out.append('"');
        for (int i = 0; i < string.length(); i++) {
          char c = string.charAt(i);
          if (c == '"' || c == '\\') {
            out.append('\\').append(c);
          } else if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
        out.append('"');
      }
    }
  }
}
