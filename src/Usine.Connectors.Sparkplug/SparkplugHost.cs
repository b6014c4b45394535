using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Usine.Connectors.Sparkplug;

/// <summary>What the host counted since it started, for the job's state and reconciliation.</summary>
public sealed record SparkplugHostCounters(long SeqGaps, long RebirthRequests, long UnknownAliases, long DataBeforeBirth, long StaleDeaths, long Malformed);

/// <summary>An edge node as the host sees it: online or not (since when, and why), its birth/death sequence, its last seq, its devices.</summary>
public sealed record SparkplugNodeStatus(string Group, string Edge, bool Online, ulong? BdSeq, int? LastSeq, IReadOnlyDictionary<string, bool> Devices, DateTime Since, string Reason)
{
    /// <summary>Each device: online or not, since when and why.</summary>
    public IReadOnlyDictionary<string, SparkplugDeviceStatus> DeviceStates { get; init; } = new Dictionary<string, SparkplugDeviceStatus>();

    /// <summary>
    /// Whether the host has seen the node's birth or death: a node known only from its data (after a restart of
    /// the host, before the birth it asked for) is neither online nor offline yet.
    /// </summary>
    public bool StateKnown { get; init; } = true;
}

/// <summary>A device of an edge node as the host sees it: online from its DBIRTH until its DDEATH or its edge node's death or next birth.</summary>
public sealed record SparkplugDeviceStatus(bool Online, DateTime Since, string Reason);

/// <summary>
/// The state of a Sparkplug B primary host application, without the MQTT connection: it follows every edge
/// node's births (metrics, datatypes, aliases), sequence numbers and deaths, and annotates each message with the
/// aliases its metrics use (<see cref="SparkplugHostAnnotations"/>) so that what is stored decodes alone.
/// </summary>
/// <remarks>
/// It asks for a rebirth (<see cref="RebirthNeeded"/>) when data comes before any birth (after a restart of the
/// host the alias cache is empty), when an alias is unknown, and when a seq number is missing and has not come
/// out of order within <see cref="ReorderTimeout"/>. One request per edge node until its next NBIRTH, repeated
/// only after <see cref="RebirthRetry"/>. Messages are observed one at a time in arrival order; the reorder timer
/// runs on the clock's thread, so everything is under one lock.
/// </remarks>
public sealed partial class SparkplugHost : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Group, string Edge), EdgeNode> _nodes = [];
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _sourceId;
    private readonly List<Usine.Operations.SequenceGap> _gaps = [];
    private readonly List<Usine.Operations.SequenceGap> _unannounced = [];
    private long _seqGaps, _rebirths, _unknownAliases, _beforeBirth, _staleDeaths, _malformed;

    /// <summary>The confirmed gaps kept for reconciliation: the latest ones.</summary>
    private const int GapsKept = 1000;

    public SparkplugHost(string sourceId, TimeProvider? time = null, ILogger? logger = null)
    {
        _sourceId = sourceId;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>How long a missing seq number may take to arrive out of order before a rebirth is requested. Default 2 s.</summary>
    public TimeSpan ReorderTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long to wait for the NBIRTH a rebirth request asked for before asking again. Default 30 s.</summary>
    public TimeSpan RebirthRetry { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Raised when an edge node must be asked to rebirth, with the reason; the connector publishes the
    /// <c>Node Control/Rebirth</c> NCMD. Raised outside the lock, possibly on a timer thread.
    /// </summary>
    public event Action<string, string, string>? RebirthNeeded;

    /// <summary>Raised when an edge node or one of its devices goes online or offline, with the node's status after the change.</summary>
    public event Action<SparkplugNodeStatus>? NodeChanged;

    /// <summary>
    /// Raised when a gap in an edge node's seq numbers is confirmed (the missing numbers did not come within the
    /// reorder timeout), once per gap, outside the lock, possibly on a timer thread.
    /// </summary>
    public event Action<Usine.Operations.SequenceGap>? GapConfirmed;

    /// <summary>
    /// The gaps confirmed since the host started, oldest first (the latest 1000): scope <c>GROUP/EDGE</c>, the seq
    /// number before and after the missing ones, how many are missing, and when the messages around them arrived.
    /// </summary>
    public IReadOnlyList<Usine.Operations.SequenceGap> Gaps
    {
        get
        {
            lock (_lock)
            {
                return [.. _gaps];
            }
        }
    }

    public SparkplugHostCounters Counters => new(
        Interlocked.Read(ref _seqGaps), Interlocked.Read(ref _rebirths), Interlocked.Read(ref _unknownAliases),
        Interlocked.Read(ref _beforeBirth), Interlocked.Read(ref _staleDeaths), Interlocked.Read(ref _malformed));

    /// <summary>The edge nodes seen so far.</summary>
    public IReadOnlyList<SparkplugNodeStatus> Nodes
    {
        get
        {
            lock (_lock)
            {
                return [.. _nodes.Values.Select(n => n.Status()).OrderBy(n => n.Group, StringComparer.Ordinal).ThenBy(n => n.Edge, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>The status of one edge node, or null if it was never seen.</summary>
    public SparkplugNodeStatus? Node(string group, string edge)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue((group, edge), out var node) ? node.Status() : null;
        }
    }

    /// <summary>
    /// Follows one message and returns the bytes to store for it: the edge node's bytes, followed by the
    /// annotations (the aliases its metrics use, a note when something was missing, the topic). A payload that
    /// is not protobuf is returned as it came (its decoding makes it a dead letter).
    /// </summary>
    public byte[] Observe(SparkplugTopic topic, ReadOnlySpan<byte> bytes) => Observe(topic, bytes, out _);

    /// <inheritdoc cref="Observe(SparkplugTopic, ReadOnlySpan{byte})"/>
    /// <param name="metrics">The metrics the payload holds (0 when it cannot be read): about the records it makes.</param>
    public byte[] Observe(SparkplugTopic topic, ReadOnlySpan<byte> bytes, out int metrics)
    {
        metrics = 0;
        SparkplugPayload payload;
        try
        {
            payload = SparkplugCodec.Read(bytes);
        }
        catch (SparkplugPayloadException ex)
        {
            Interlocked.Increment(ref _malformed);
            LogMalformed(_logger, _sourceId, topic.ToString(), ex.Message);
            return bytes.ToArray();
        }

        metrics = payload.Metrics.Count;
        List<(string Reason, bool Force)> rebirth = [];
        List<SparkplugNodeStatus> changed = [];
        SparkplugHostAnnotations? annotations = null;
        lock (_lock)
        {
            var key = (topic.Group, topic.Edge);
            if (!_nodes.TryGetValue(key, out var node))
            {
                node = _nodes[key] = new EdgeNode(topic.Group, topic.Edge, _time.GetUtcNow().UtcDateTime) { Host = this };
            }

            switch (topic.Type)
            {
                case SparkplugMessageType.NBIRTH:
                    node.Birth(payload, _time.GetUtcNow().UtcDateTime);
                    changed.Add(node.Status());
                    LogNodeBirth(_logger, _sourceId, topic.Group, topic.Edge, node.BdSeq, node.Aliases.Count);
                    break;

                case SparkplugMessageType.NDEATH:
                    var bdSeq = payload.Metrics.FirstOrDefault(m => m.Name == "bdSeq") is { ValueCase: SparkplugValueCase.Long or SparkplugValueCase.Int } m ? m.IntegerBits : (ulong?)null;
                    if (node.Born && bdSeq is { } death && node.BdSeq is { } birth && death != birth)
                    {
                        // The will of an older session, delivered after the newer session's NBIRTH.
                        Interlocked.Increment(ref _staleDeaths);
                        LogStaleDeath(_logger, _sourceId, topic.Group, topic.Edge, death, birth);
                        break;
                    }

                    node.Death($"NDEATH (bdSeq {bdSeq?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"})", _time.GetUtcNow().UtcDateTime);
                    changed.Add(node.Status());
                    LogNodeDeath(_logger, _sourceId, topic.Group, topic.Edge, bdSeq);
                    break;

                case SparkplugMessageType.DBIRTH:
                case SparkplugMessageType.DDATA:
                case SparkplugMessageType.DDEATH:
                case SparkplugMessageType.NDATA:
                    if (!node.Born)
                    {
                        // After a restart of the host (or an NBIRTH it missed) the aliases and seq are unknown.
                        Interlocked.Increment(ref _beforeBirth);
                        rebirth.Add(($"{topic.Type} before any NBIRTH of the edge node since the host started", false));
                        annotations = new SparkplugHostAnnotations { Note = $"no NBIRTH of edge node {topic.Group}/{topic.Edge} was seen before it; a rebirth was requested" };
                    }
                    else if (payload.Seq is { } seq)
                    {
                        node.CheckSeq((int)(seq & 0xFF), this);
                    }

                    if (topic.Type == SparkplugMessageType.DBIRTH)
                    {
                        node.DeviceBirth(topic.Device!, payload, _time.GetUtcNow().UtcDateTime);
                        changed.Add(node.Status());
                    }
                    else if (topic.Type == SparkplugMessageType.DDEATH)
                    {
                        node.DeviceDeath(topic.Device!, _time.GetUtcNow().UtcDateTime);
                        changed.Add(node.Status());
                        LogDeviceDeath(_logger, _sourceId, topic.Group, topic.Edge, topic.Device!);
                    }
                    else
                    {
                        annotations = node.Resolve(topic.Device, payload, annotations, out var unknown);
                        if (unknown > 0)
                        {
                            Interlocked.Add(ref _unknownAliases, unknown);
                            if (node.Born)
                            {
                                rebirth.Add(($"{unknown} metric(s) of {topic.Type} use aliases no birth defined", false));
                            }
                        }
                    }

                    break;
            }

            if (node.GapDue(_time.GetUtcNow().UtcDateTime) is { } gap)
            {
                rebirth.Add((gap, false));
            }

            if (rebirth.Count > 0 && !node.MayRequestRebirth(_time.GetUtcNow().UtcDateTime, RebirthRetry))
            {
                rebirth.Clear();
            }
        }

        foreach (var status in changed)
        {
            NodeChanged?.Invoke(status);
        }

        AnnounceGaps();

        if (rebirth.Count > 0)
        {
            RequestRebirth(topic.Group, topic.Edge, rebirth[0].Reason);
        }

        annotations ??= new SparkplugHostAnnotations();
        annotations.Topic = topic.ToString();
        return annotations.AppendTo(bytes);
    }

    private void RequestRebirth(string group, string edge, string reason)
    {
        Interlocked.Increment(ref _rebirths);
        LogRebirth(_logger, _sourceId, group, edge, reason);
        RebirthNeeded?.Invoke(group, edge, reason);
    }

    /// <summary>A seq gap was seen: checks back after the reorder timeout whether the missing numbers came.</summary>
    private void ScheduleGapCheck(EdgeNode node)
    {
        node.GapTimer ??= _time.CreateTimer(_ => OnGapTimer(node), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        node.GapTimer.Change(ReorderTimeout, Timeout.InfiniteTimeSpan);
    }

    private void OnGapTimer(EdgeNode node)
    {
        string? reason;
        lock (_lock)
        {
            // A timer may fire a little before the wall clock reaches the deadline: wait for the rest.
            var now = _time.GetUtcNow().UtcDateTime;
            if (node.GapDeadline is { } deadline && now < deadline)
            {
                node.GapTimer?.Change(deadline - now + TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
                return;
            }

            reason = node.GapDue(now);
            if (reason is not null && !node.MayRequestRebirth(_time.GetUtcNow().UtcDateTime, RebirthRetry))
            {
                reason = null;
            }
        }

        AnnounceGaps();
        if (reason is not null)
        {
            RequestRebirth(node.Group, node.Edge, reason);
        }
    }

    private void AnnounceGaps()
    {
        Usine.Operations.SequenceGap[] gaps;
        lock (_lock)
        {
            if (_unannounced.Count == 0)
            {
                return;
            }

            gaps = [.. _unannounced];
            _unannounced.Clear();
        }

        foreach (var gap in gaps)
        {
            GapConfirmed?.Invoke(gap);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var node in _nodes.Values)
            {
                node.GapTimer?.Dispose();
            }
        }
    }

    private sealed class EdgeNode(string group, string edge, DateTime since)
    {
        private readonly HashSet<int> _missing = [];
        private (int After, int Before, DateTime AfterTime, DateTime BeforeTime)? _gap;
        private DateTime _lastSeqAt = since;
        private DateTime? _gapDeadline;
        private DateTime? _rebirthRequestedAt;
        private DateTime _since = since;
        private string _reason = "seen before its birth";
        private bool _stateKnown;

        public string Group { get; } = group;
        public string Edge { get; } = edge;
        public bool Born { get; private set; }
        public bool Online { get; private set; }
        public ulong? BdSeq { get; private set; }
        public int? LastSeq { get; private set; }
        public ITimer? GapTimer { get; set; }
        public SparkplugHost? Host { get; set; }

        /// <summary>When missing seq numbers stop being waited for, if some are missing.</summary>
        public DateTime? GapDeadline => _gapDeadline;

        /// <summary>Aliases of the node's own metrics (NBIRTH).</summary>
        public Dictionary<ulong, SparkplugAlias> Aliases { get; } = [];

        /// <summary>Aliases of each device's metrics (its DBIRTH), and whether the device is online, since when and why.</summary>
        public Dictionary<string, (Dictionary<ulong, SparkplugAlias> Aliases, bool Online, DateTime Since, string Reason)> Devices { get; } = new(StringComparer.Ordinal);

        public SparkplugNodeStatus Status() =>
            new(Group, Edge, Online, BdSeq, LastSeq, Devices.ToDictionary(d => d.Key, d => d.Value.Online, StringComparer.Ordinal), _since, _reason)
            {
                StateKnown = _stateKnown,
                DeviceStates = Devices.ToDictionary(d => d.Key, d => new SparkplugDeviceStatus(d.Value.Online, d.Value.Since, d.Value.Reason), StringComparer.Ordinal),
            };

        /// <summary>Every device offline from <paramref name="now"/> (if it was online), for <paramref name="reason"/>.</summary>
        private void DevicesOffline(DateTime now, string reason)
        {
            foreach (var (device, d) in Devices.ToList())
            {
                Devices[device] = d.Online ? (d.Aliases, false, now, reason) : d;
            }
        }

        public void Birth(SparkplugPayload payload, DateTime now)
        {
            Born = true;
            Online = true;
            _stateKnown = true;
            _since = now;
            _reason = "NBIRTH";
            BdSeq = payload.Metrics.FirstOrDefault(m => m.Name == "bdSeq") is { ValueCase: SparkplugValueCase.Long or SparkplugValueCase.Int } b ? b.IntegerBits : null;
            LastSeq = payload.Seq is { } seq ? (int)(seq & 0xFF) : null;
            _lastSeqAt = now;
            _missing.Clear();
            _gap = null;
            _gapDeadline = null;
            _rebirthRequestedAt = null;
            Aliases.Clear();
            Define(Aliases, payload);

            // A new session of the node: its devices are born again after it (a DBIRTH that came first keeps its aliases).
            DevicesOffline(now, "NBIRTH of its edge node; no DBIRTH since");
        }

        public void Death(string reason, DateTime now)
        {
            Born = false;
            Online = false;
            _stateKnown = true;
            _since = now;
            _reason = reason;
            _missing.Clear();
            _gap = null;
            _gapDeadline = null;
            DevicesOffline(now, "offline with its edge node (" + reason + ")");
        }

        public void DeviceBirth(string device, SparkplugPayload payload, DateTime now)
        {
            var aliases = new Dictionary<ulong, SparkplugAlias>();
            Define(aliases, payload);
            Devices[device] = (aliases, true, now, "DBIRTH");
        }

        public void DeviceDeath(string device, DateTime now) =>
            Devices[device] = (Devices.TryGetValue(device, out var d) ? d.Aliases : [], false, now, "DDEATH");

        private static void Define(Dictionary<ulong, SparkplugAlias> aliases, SparkplugPayload payload)
        {
            foreach (var metric in payload.Metrics)
            {
                if (metric is { Name: { } name, Alias: { } alias })
                {
                    aliases[alias] = new SparkplugAlias(alias, name, metric.DataType ?? SparkplugDataType.Unknown);
                }
            }
        }

        /// <summary>The annotations of a data message: the aliases its nameless metrics use, and how many no birth defines.</summary>
        public SparkplugHostAnnotations? Resolve(string? device, SparkplugPayload payload, SparkplugHostAnnotations? annotations, out int unknown)
        {
            unknown = 0;
            var table = device is null ? Aliases : Devices.TryGetValue(device, out var d) ? d.Aliases : null;
            HashSet<ulong>? added = null;
            foreach (var metric in payload.Metrics)
            {
                if (metric.Name is not null || metric.Alias is not { } alias)
                {
                    continue;
                }

                annotations ??= new SparkplugHostAnnotations();
                if (table is not null && table.TryGetValue(alias, out var known))
                {
                    if ((added ??= []).Add(alias))
                    {
                        annotations.Aliases.Add(known);
                    }
                }
                else
                {
                    unknown++;
                }
            }

            if (unknown > 0 && annotations is not null)
            {
                annotations.Note ??= table is null
                    ? $"no DBIRTH of device {device} of edge node {Group}/{Edge} was seen; a rebirth was requested"
                    : $"the births of edge node {Group}/{Edge} in force do not define it; a rebirth was requested";
            }

            return annotations;
        }

        public void CheckSeq(int seq, SparkplugHost host)
        {
            var now = host._time.GetUtcNow().UtcDateTime;
            if (LastSeq is not { } last)
            {
                LastSeq = seq;
                _lastSeqAt = now;
                return;
            }

            var expected = (last + 1) & 0xFF;
            if (seq == expected)
            {
                LastSeq = seq;
                _lastSeqAt = now;
                return;
            }

            if (_missing.Remove(seq))
            {
                return; // came out of order, within the reorder timeout
            }

            // Numbers from the expected one up to this one are missing; they may still come out of order.
            for (var s = expected; s != seq; s = (s + 1) & 0xFF)
            {
                _missing.Add(s);
            }

            _gap ??= (last, seq, _lastSeqAt, now);
            LastSeq = seq;
            _lastSeqAt = now;
            _gapDeadline ??= now + host.ReorderTimeout;
            host.ScheduleGapCheck(this);
        }

        /// <summary>The reason for a rebirth when seq numbers are still missing past the reorder timeout, counting the gap once.</summary>
        public string? GapDue(DateTime now)
        {
            if (_gapDeadline is not { } deadline || now < deadline)
            {
                return null;
            }

            _gapDeadline = null;
            var gap = _gap;
            _gap = null;
            if (_missing.Count == 0)
            {
                return null;
            }

            var reason = $"{_missing.Count} seq number(s) missing (such as {_missing.Min()}) after the reorder timeout";
            var (after, before, afterTime, beforeTime) = gap ?? (-1, -1, now, now);
            Host?.CountGap(new Usine.Operations.SequenceGap($"{Group}/{Edge}", after, before, _missing.Count, afterTime, beforeTime));
            _missing.Clear();
            return reason;
        }

        public bool MayRequestRebirth(DateTime now, TimeSpan retry)
        {
            if (_rebirthRequestedAt is { } at && now - at < retry)
            {
                return false;
            }

            _rebirthRequestedAt = now;
            return true;
        }
    }

    /// <summary>Counts a confirmed gap; called under the lock, announced after it (<see cref="AnnounceGaps"/>).</summary>
    private void CountGap(Usine.Operations.SequenceGap gap)
    {
        Interlocked.Increment(ref _seqGaps);
        _gaps.Add(gap);
        if (_gaps.Count > GapsKept)
        {
            _gaps.RemoveAt(0);
        }

        _unannounced.Add(gap);
    }

    // Log events 2100-2119.
    [LoggerMessage(2200, LogLevel.Information, "Sparkplug source {SourceId}: NBIRTH of edge node {Group}/{Edge} (bdSeq {BdSeq}, {Aliases} aliases): online")]
    private static partial void LogNodeBirth(ILogger logger, string sourceId, string group, string edge, ulong? bdSeq, int aliases);

    [LoggerMessage(2201, LogLevel.Warning, "Sparkplug source {SourceId}: NDEATH of edge node {Group}/{Edge} (bdSeq {BdSeq}): offline")]
    private static partial void LogNodeDeath(ILogger logger, string sourceId, string group, string edge, ulong? bdSeq);

    [LoggerMessage(2202, LogLevel.Information, "Sparkplug source {SourceId}: NDEATH of edge node {Group}/{Edge} with bdSeq {Death} ignored: the session in force was born with bdSeq {Birth}")]
    private static partial void LogStaleDeath(ILogger logger, string sourceId, string group, string edge, ulong death, ulong birth);

    [LoggerMessage(2203, LogLevel.Warning, "Sparkplug source {SourceId}: DDEATH of device {Device} of edge node {Group}/{Edge}: offline")]
    private static partial void LogDeviceDeath(ILogger logger, string sourceId, string group, string edge, string device);

    [LoggerMessage(2204, LogLevel.Warning, "Sparkplug source {SourceId}: requesting a rebirth of edge node {Group}/{Edge}: {Reason}")]
    private static partial void LogRebirth(ILogger logger, string sourceId, string group, string edge, string reason);

    [LoggerMessage(2205, LogLevel.Warning, "Sparkplug source {SourceId}: the payload on {Topic} is not a Sparkplug B payload ({Error}); it is stored and becomes a dead letter")]
    private static partial void LogMalformed(ILogger logger, string sourceId, string topic, string error);
}
