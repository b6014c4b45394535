using Microsoft.Extensions.Time.Testing;

namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>The host's state machine on a fake clock: births, aliases, seq numbers, deaths and rebirth requests.</summary>
public sealed class SparkplugHostTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 6, 0, 0, TimeSpan.Zero));
    private readonly SparkplugHost _host;
    private readonly List<string> _rebirths = [];

    public SparkplugHostTests()
    {
        _host = new SparkplugHost("test", _time) { ReorderTimeout = TimeSpan.FromSeconds(2), RebirthRetry = TimeSpan.FromSeconds(30) };
        _host.RebirthNeeded += (group, edge, reason) =>
        {
            lock (_rebirths)
            {
                _rebirths.Add($"{group}/{edge}: {reason}");
            }
        };
    }

    public void Dispose() => _host.Dispose();

    private static SparkplugTopic Topic(string type, string? device = null) =>
        SparkplugTopic.TryParse($"spBv1.0/G/{type}/E{(device is null ? "" : "/" + device)}")!;

    private static byte[] Payload(ulong? seq, params SparkplugMetric[] metrics)
    {
        var p = new SparkplugPayload { Timestamp = 1_764_576_000_000, Seq = seq };
        p.Metrics.AddRange(metrics);
        return SparkplugCodec.Write(p);
    }

    private static SparkplugMetric Named(string name, ulong alias, double value) => new SparkplugMetric { Name = name, Alias = alias, DataType = SparkplugDataType.Double }.SetDouble(value);

    private static SparkplugMetric Aliased(ulong alias, double value) => new SparkplugMetric { Alias = alias }.SetDouble(value);

    private static SparkplugMetric BdSeq(ulong value) => new SparkplugMetric { Name = "bdSeq", DataType = SparkplugDataType.UInt64 }.SetLong(value);

    private void NodeBirth(ulong bdSeq = 0) => _host.Observe(Topic("NBIRTH"), Payload(0, BdSeq(bdSeq), Named("temp", 1, 20)));

    private RecordingMessages Data(ulong seq, params SparkplugMetric[] metrics)
    {
        var topic = Topic("NDATA");
        return RecordingMessages.Decode(topic.ToString(), _host.Observe(topic, Payload(seq, metrics)));
    }

    [Fact]
    public void Data_after_a_birth_resolves_its_aliases_and_asks_for_nothing()
    {
        NodeBirth();
        var decoded = Data(1, Aliased(1, 21.5));

        Assert.Equal("temp=21.5", Assert.Single(decoded.Messages.Select(m => $"{m["metric"]}={m["value"]}")));
        Assert.Empty(_rebirths);
        Assert.Equal(new SparkplugHostCounters(0, 0, 0, 0, 0, 0), _host.Counters);
        Assert.True(_host.Node("G", "E")!.Online);
    }

    [Fact]
    public void Data_before_any_birth_asks_for_a_rebirth_once_and_its_metrics_are_dead_letters_with_the_reason()
    {
        var first = Data(5, Aliased(1, 21.5));
        Data(6, Aliased(1, 22));

        Assert.Equal(["metric 0 of spBv1.0/G/NDATA/E has alias 1, which no birth of edge node G/E in force defined: no NBIRTH of edge node G/E was seen before it; a rebirth was requested"], first.Invalid);
        Assert.Equal(["G/E: NDATA before any NBIRTH of the edge node since the host started"], _rebirths);
        Assert.Equal(2, _host.Counters.DataBeforeBirth);
        Assert.False(_host.Node("G", "E")!.StateKnown, "a node known only from its data is neither online nor offline");
        Assert.Equal("0 seq gap(s), 1 rebirth request(s)", SparkplugLiveSource.Describe(_host));
        Assert.Null(SparkplugLiveSource.JobDetail(_host));

        NodeBirth();
        Assert.True(_host.Node("G", "E")!.StateKnown);
        Assert.Equal("temp", Assert.Single(Data(1, Aliased(1, 23)).Messages)["metric"]);
    }

    [Fact]
    public void An_unknown_alias_after_a_birth_asks_for_a_rebirth_and_is_counted()
    {
        NodeBirth();
        var decoded = Data(1, Aliased(7, 1), Aliased(1, 2));

        Assert.Equal("metric 0 of spBv1.0/G/NDATA/E has alias 7, which no birth of edge node G/E in force defined: the births of edge node G/E in force do not define it; a rebirth was requested", Assert.Single(decoded.Invalid));
        Assert.Single(decoded.Messages);
        Assert.Single(_rebirths);
        Assert.Equal(1, _host.Counters.UnknownAliases);
    }

    [Fact]
    public void A_seq_gap_asks_for_one_rebirth_after_the_reorder_timeout_and_counts_one_gap()
    {
        NodeBirth();
        Data(1, Aliased(1, 1));
        Data(4, Aliased(1, 4));
        Data(5, Aliased(1, 5));
        Assert.Empty(_rebirths);

        _time.Advance(TimeSpan.FromSeconds(2));
        Data(6, Aliased(1, 6));
        Data(9, Aliased(1, 9));
        _time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(["G/E: 2 seq number(s) missing (such as 2) after the reorder timeout"], _rebirths);
        Assert.Equal(2, _host.Counters.SeqGaps);
        Assert.Equal(1, _host.Counters.RebirthRequests);
    }

    [Fact]
    public void A_confirmed_gap_across_the_wrap_is_kept_for_reconciliation_with_the_numbers_around_it_and_when_they_came()
    {
        var announced = new List<Usine.Operations.SequenceGap>();
        _host.GapConfirmed += announced.Add;
        NodeBirth();
        for (ulong s = 1; s <= 253; s++)
        {
            Data(s, Aliased(1, s));
        }

        var before = _time.GetUtcNow().UtcDateTime;
        _time.Advance(TimeSpan.FromMilliseconds(500));
        Data(1, Aliased(1, 1));
        var after = _time.GetUtcNow().UtcDateTime;
        Assert.Empty(_host.Gaps);

        _time.Advance(TimeSpan.FromSeconds(2));
        var gap = Assert.Single(_host.Gaps);
        Assert.Equal(new Usine.Operations.SequenceGap("G/E", 253, 1, 3, before, after), gap);
        Assert.Equal([gap], announced);
        Assert.Equal(1, _host.Counters.SeqGaps);
    }

    [Fact]
    public void Numbers_that_come_out_of_order_within_the_reorder_timeout_are_no_gap()
    {
        NodeBirth();
        Data(2, Aliased(1, 2));
        Data(1, Aliased(1, 1));
        Data(3, Aliased(1, 3));
        _time.Advance(TimeSpan.FromSeconds(5));

        Assert.Empty(_rebirths);
        Assert.Equal(0, _host.Counters.SeqGaps);
    }

    [Fact]
    public void Seq_wraps_from_255_to_0_without_a_gap()
    {
        NodeBirth();
        for (ulong s = 1; s <= 300; s++)
        {
            Data(s % 256, Aliased(1, s));
        }

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(_rebirths);
        Assert.Equal(300 % 256, _host.Node("G", "E")!.LastSeq);
    }

    [Fact]
    public void An_NDEATH_whose_bdSeq_is_not_the_births_is_ignored_and_the_matching_one_takes_the_node_offline()
    {
        NodeBirth(bdSeq: 4);
        _host.Observe(Topic("NDEATH"), Payload(null, BdSeq(3)));

        Assert.True(_host.Node("G", "E")!.Online, "the will of the session before does not kill the newer one");
        Assert.Equal(1, _host.Counters.StaleDeaths);

        _host.Observe(Topic("NDEATH"), Payload(null, BdSeq(4)));
        var node = _host.Node("G", "E")!;
        Assert.Equal((false, "NDEATH (bdSeq 4)"), (node.Online, node.Reason));
    }

    [Fact]
    public void Devices_go_online_with_their_DBIRTH_offline_with_their_DDEATH_and_their_aliases_are_their_own()
    {
        NodeBirth();
        _host.Observe(Topic("DBIRTH", "robot"), Payload(1, Named("torque", 50, 0)));
        var topic = Topic("DDATA", "robot");
        var decoded = RecordingMessages.Decode(topic.ToString(), _host.Observe(topic, Payload(2, Aliased(50, 12.5))));

        Assert.Equal(("robot", "torque", "12.5"), (decoded.Messages[0]["device"], decoded.Messages[0]["metric"], decoded.Messages[0]["value"]));
        Assert.True(_host.Node("G", "E")!.Devices["robot"]);

        _time.Advance(TimeSpan.FromMinutes(1));
        _host.Observe(Topic("DDEATH", "robot"), Payload(3));
        Assert.False(_host.Node("G", "E")!.Devices["robot"]);
        Assert.True(_host.Node("G", "E")!.Online);
        Assert.Equal(new SparkplugDeviceStatus(false, _time.GetUtcNow().UtcDateTime, "DDEATH"), _host.Node("G", "E")!.DeviceStates["robot"]);
        Assert.NotEqual(_time.GetUtcNow().UtcDateTime, _host.Node("G", "E")!.Since);
    }

    [Fact]
    public void The_devices_of_an_edge_node_that_dies_are_offline_with_it_since_its_death()
    {
        NodeBirth(bdSeq: 2);
        _host.Observe(Topic("DBIRTH", "robot"), Payload(1, Named("torque", 50, 0)));
        _time.Advance(TimeSpan.FromMinutes(3));
        _host.Observe(Topic("NDEATH"), Payload(null, BdSeq(2)));

        var now = _time.GetUtcNow().UtcDateTime;
        Assert.Equal(new SparkplugDeviceStatus(false, now, "offline with its edge node (NDEATH (bdSeq 2))"), _host.Node("G", "E")!.DeviceStates["robot"]);
        Assert.Equal(now, _host.Node("G", "E")!.Since);
    }

    [Fact]
    public void A_DBIRTH_before_the_NBIRTH_keeps_its_metrics_and_aliases_and_asks_for_a_rebirth()
    {
        // After a restart of the host, an edge node's DBIRTH may come before the NBIRTH the host asks for.
        var topic = Topic("DBIRTH", "robot");
        var birth = RecordingMessages.Decode(topic.ToString(), _host.Observe(topic, Payload(3, Named("torque", 50, 7))));
        Assert.Equal("torque=7", Assert.Single(birth.Messages.Select(m => $"{m["metric"]}={m["value"]}")));
        Assert.Single(_rebirths);

        NodeBirth();
        var data = Topic("DDATA", "robot");
        Assert.Equal("torque", Assert.Single(RecordingMessages.Decode(data.ToString(), _host.Observe(data, Payload(1, Aliased(50, 8)))).Messages)["metric"]);
    }

    [Fact]
    public void A_second_rebirth_request_waits_for_the_retry_interval_unless_a_birth_came()
    {
        Data(1, Aliased(1, 1));
        Data(2, Aliased(1, 1));
        _time.Advance(TimeSpan.FromSeconds(29));
        Data(3, Aliased(1, 1));
        Assert.Single(_rebirths);

        _time.Advance(TimeSpan.FromSeconds(1));
        Data(4, Aliased(1, 1));
        Assert.Equal(2, _rebirths.Count);
    }

    [Fact]
    public void A_payload_that_is_not_protobuf_is_stored_as_it_came_and_counted()
    {
        byte[] garbage = [0x12, 0x05, 0x0A];
        Assert.Equal(garbage, _host.Observe(Topic("NDATA"), garbage));
        Assert.Equal(1, _host.Counters.Malformed);
    }

    [Fact]
    public void The_same_payload_from_two_edge_nodes_is_stored_as_two_different_messages_and_keeps_its_own_bytes_in_front()
    {
        var payload = Payload(0, BdSeq(0), Named("temp", 1, 20));
        var first = _host.Observe(SparkplugTopic.TryParse("spBv1.0/G/NBIRTH/E1")!, payload);
        var second = _host.Observe(SparkplugTopic.TryParse("spBv1.0/G/NBIRTH/E2")!, payload);

        Assert.NotEqual(first, second);
        Assert.Equal(payload, first[..payload.Length]);
        SparkplugCodec.Read(second, out var annotations);
        Assert.Equal("spBv1.0/G/NBIRTH/E2", annotations!.Topic);
    }
}
