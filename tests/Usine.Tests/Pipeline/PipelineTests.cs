using Usine.Avatars;

namespace Usine.Tests.Pipeline;

public sealed class PipelineTests
{
    private static PipelineOutput Run(string sourceId, List<RawMessage> messages, AvatarRegistry? avatars = null, IReadOnlyList<string>? header = null, IEnumerable<IPipelineStep>? steps = null)
    {
        var defs = TestDefinitions.Load();
        var pipeline = new SourcePipeline(defs.Sources[sourceId], defs, steps);
        var output = new PipelineOutput();
        pipeline.Process(messages, "test", avatars ?? new AvatarRegistry(), output, header);
        return output;
    }

    [Fact]
    public void A_good_message_becomes_a_typed_record_attached_to_its_vehicle_and_station()
    {
        var output = Run("line1", TestDefinitions.Messages(TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12.5)));

        Assert.Empty(output.DeadLetters);
        var record = Assert.Single(output.Records);
        Assert.Equal("flins", record.Plant);
        Assert.Equal(TestDefinitions.Vin1, record.AvatarId);
        Assert.Equal(new DateTime(2026, 11, 26, 8, 15, 0, DateTimeKind.Utc), record.EventTime);
        Assert.Equal(12.5, record.Values[record.Model.IndexOf("torque")].Double);
        Assert.Equal("OK", record.Values[record.Model.IndexOf("status")].String);

        // plant, shop, line, station and the vehicle are created on first sight, in hierarchy order.
        Assert.Equal(
            ["plant:flins", "shop:flins/assembly", "line:flins/assembly/L1", "station:flins/assembly/L1/ST040", "vehicle:" + TestDefinitions.Vin1],
            output.NewAvatars.Select(a => a.Type + ":" + a.Id));
        var station = output.NewAvatars[3];
        Assert.Equal(output.NewAvatars[2].Key, station.ParentKey);
        var link = Assert.Single(output.Links);
        Assert.Equal(("at", station.Key, record.AvatarKey), (link.Kind, link.ToKey, link.FromKey));
    }

    [Theory]
    [InlineData("{\"VIN\": ", "decode", "invalid JSON")]
    [InlineData("[1,2]", "decode", "expected a JSON object, got array")]
    [InlineData("{\"VIN\":\"VF1AAAAA111111111\",\"station\":\"ST040\",\"time\":\"2026-11-26T08:15:00Z\",\"result\":{\"status\":\"OK\"}}", "validate", "field 'torque' is required but missing")]
    [InlineData("{\"VIN\":\"VF1AAAAA111111111\",\"station\":\"ST040\",\"time\":\"2026-11-26T08:15:00Z\",\"result\":{\"torque\":250,\"status\":\"OK\"}}", "validate", "field 'torque' = 250 Nm is above the maximum 200")]
    [InlineData("{\"VIN\":\"VF1AAAAA111111111\",\"station\":\"ST040\",\"time\":\"2026-11-26T08:15:00Z\",\"result\":{\"torque\":\"high\",\"status\":\"OK\"}}", "validate", "field 'torque' = \"high\" is not a number")]
    [InlineData("{\"VIN\":\"VF1AAAAA111111111\",\"station\":\"ST040\",\"time\":\"2026-11-26T08:15:00Z\",\"result\":{\"torque\":12,\"status\":\"MAYBE\"}}", "validate", "field 'status' = \"MAYBE\" is not one of OK, NOK")]
    [InlineData("{\"VIN\":\"VF1IIIII111111111\",\"station\":\"ST040\",\"time\":\"2026-11-26T08:15:00Z\",\"result\":{\"torque\":12,\"status\":\"OK\"}}", "validate", "does not match")]
    [InlineData("{\"VIN\":\"VF1AAAAA111111111\",\"station\":\"ST040\",\"time\":\"yesterday\",\"result\":{\"torque\":12,\"status\":\"OK\"}}", "validate", "field 'ts' = \"yesterday\" is not a timestamp")]
    public void A_bad_message_becomes_a_dead_letter_with_its_stage_and_reason(string payload, string stage, string reason)
    {
        var output = Run("line1", TestDefinitions.Messages(payload));

        Assert.Empty(output.Records);
        var dead = Assert.Single(output.DeadLetters);
        Assert.Equal(stage, dead.Stage.ToString().ToLowerInvariant());
        Assert.Contains(reason, dead.Reason, StringComparison.Ordinal);
        Assert.Equal(payload, System.Text.Encoding.UTF8.GetString(dead.Payload.Span));
        Assert.Equal("line1", dead.SourceId);
        Assert.Equal(1, dead.Position);
    }

    [Fact]
    public void Every_problem_of_a_message_is_reported_not_only_the_first()
    {
        var output = Run("line1", TestDefinitions.Messages("""{"VIN":"short","time":"2026-11-26T08:15:00Z","result":{"torque":-1}}"""));

        var reason = Assert.Single(output.DeadLetters).Reason;
        Assert.Contains("field 'vin' = \"short\" does not match", reason, StringComparison.Ordinal);
        Assert.Contains("field 'station' is required but missing", reason, StringComparison.Ordinal);
        Assert.Contains("field 'torque' = -1 Nm is below the minimum 0", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_payload_over_the_size_limit_is_a_dead_letter_cut_to_the_limit()
    {
        var defs = Usine.Configuration.DefinitionLoader.LoadText(TestDefinitions.Yaml.Replace("    kind: http\n", "    kind: http\n    maxPayloadBytes: 100\n", StringComparison.Ordinal), "t.yaml");
        var pipeline = new SourcePipeline(defs.Sources["line1"], defs);
        var output = new PipelineOutput();
        var big = "{\"VIN\":\"" + new string('A', 5000) + "\"}";

        pipeline.Process(TestDefinitions.Messages(big), "test", new AvatarRegistry(), output);

        var dead = Assert.Single(output.DeadLetters);
        Assert.Equal(DeadLetterStage.Decode, dead.Stage);
        Assert.Contains("over the limit of 100 bytes", dead.Reason, StringComparison.Ordinal);
        Assert.Equal(100, dead.Payload.Length);
        Assert.Equal(big.Length, dead.PayloadBytes);
    }

    [Fact]
    public void Two_messages_with_the_same_natural_key_in_one_batch_store_once()
    {
        var m = TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12.5);
        var output = Run("line1", TestDefinitions.Messages(m, m.Replace("12.5", "13", StringComparison.Ordinal)));

        Assert.Single(output.Records);
        Assert.Equal(1, output.DuplicatesInBatch);
    }

    [Fact]
    public void A_message_that_cannot_be_decoded_keeps_the_plant_its_topic_names()
    {
        // From the topic, the plant is known even when the payload is not JSON; from the payload, it is not.
        foreach (var (template, expected) in new[] { ("\"{topic.1}\"", "douai"), ("\"{$.plant}\"", (string?)null) })
        {
            var defs = Usine.Configuration.DefinitionLoader.LoadText(TestDefinitions.Yaml.Replace("    plant: flins\n    kind: http", $"    plant: {template}\n    kind: http", StringComparison.Ordinal), "t.yaml");
            var pipeline = new SourcePipeline(defs.Sources["line1"], defs);
            var output = new PipelineOutput();
            var good = TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12).Replace("{", "{\"plant\":\"douai\",", StringComparison.Ordinal);
            var at = new DateTime(2026, 11, 26, 9, 0, 0, DateTimeKind.Utc);
            pipeline.Process(
                [new RawMessage(1, at, System.Text.Encoding.UTF8.GetBytes(good), "plants/douai/screwing"), new RawMessage(2, at, "{not json"u8.ToArray(), "plants/douai/screwing")],
                "test", new AvatarRegistry(), output);

            Assert.Equal("douai", Assert.Single(output.Records).Plant);
            var letter = Assert.Single(output.DeadLetters);
            Assert.Equal(DeadLetterStage.Decode, letter.Stage);
            Assert.Equal(expected, letter.Plant);
        }
    }

    [Fact]
    public void An_avatar_id_too_long_to_be_one_makes_a_dead_letter_and_the_batch_goes_on()
    {
        // A plant read from the message and a station path, each over the limit, between two good messages.
        var defs = Usine.Configuration.DefinitionLoader.LoadText(TestDefinitions.Yaml.Replace("    plant: flins\n    kind: http", "    plant: \"{$.plant}\"\n    kind: http", StringComparison.Ordinal), "t.yaml");
        var pipeline = new SourcePipeline(defs.Sources["line1"], defs);
        var output = new PipelineOutput();
        string In(string plant, string station, string time) =>
            TestDefinitions.Screwing(TestDefinitions.Vin1, station, time, 12).Replace("{", $"{{\"plant\":\"{plant}\",", StringComparison.Ordinal);
        pipeline.Process(TestDefinitions.Messages(
            In("flins", "ST040", "2026-11-26T08:15:00Z"),
            In(new string('p', AvatarRegistry.MaxIdBytes + 1), "ST040", "2026-11-26T08:16:00Z"),
            In("flins", new string('S', AvatarRegistry.MaxIdBytes), "2026-11-26T08:17:00Z"),
            In("flins", "ST050", "2026-11-26T08:18:00Z")), "test", new AvatarRegistry(), output);

        Assert.Equal(2, output.Records.Count);
        Assert.Equal(2, output.DeadLetters.Count);
        Assert.All(output.DeadLetters, d => Assert.Equal(DeadLetterStage.Contextualize, d.Stage));
        Assert.Equal("plant '{$.plant}' is 4097 bytes long; an avatar id is at most 4096 bytes", output.DeadLetters[0].Reason);
        Assert.StartsWith("station '{station}' makes an id of ", output.DeadLetters[1].Reason, StringComparison.Ordinal);

        // A reason quotes a long value in part; the payload keeps it whole.
        var vin = Run("line1", TestDefinitions.Messages(TestDefinitions.Screwing(new string('V', 5000), "ST040", "2026-11-26T08:15:00Z", 12))).DeadLetters.Single();
        Assert.Equal($"field 'vin' = \"{new string('V', 57)}...\" does not match ^[A-HJ-NPR-Z0-9]{{17}}$", vin.Reason);
        Assert.True(vin.PayloadBytes > 5000);
    }

    [Fact]
    public void The_same_natural_key_in_two_plants_is_two_records()
    {
        var defs = Usine.Configuration.DefinitionLoader.LoadText(TestDefinitions.Yaml.Replace("    plant: flins\n    kind: http", "    plant: \"{$.plant}\"\n    kind: http", StringComparison.Ordinal), "t.yaml");
        var pipeline = new SourcePipeline(defs.Sources["line1"], defs);
        var output = new PipelineOutput();
        var m = TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12);

        pipeline.Process(TestDefinitions.Messages(m.Replace("{", "{\"plant\":\"flins\",", StringComparison.Ordinal), m.Replace("{", "{\"plant\":\"douai\",", StringComparison.Ordinal)),
            "test", new AvatarRegistry(), output);

        Assert.Equal(["flins", "douai"], output.Records.Select(r => r.Plant));
        Assert.NotEqual(output.Records[0].RecordId, output.Records[1].RecordId);
        Assert.Equal(0, output.DuplicatesInBatch);
    }

    [Fact]
    public void Csv_rows_are_decoded_by_header_and_converted_to_the_unit_of_the_model()
    {
        var output = Run("csv-line1", TestDefinitions.Messages($"{TestDefinitions.Vin2},ST050,2026-11-26T09:00:00Z,10,NOK", "only,two"), header: ["vin", "station", "ts", "torque_lbft", "status"]);

        var record = Assert.Single(output.Records);
        Assert.Equal(13.558, Math.Round(record.Values[record.Model.IndexOf("torque")].Double, 3));
        Assert.Equal("station:flins/ST050", output.NewAvatars.Single(a => a.Type == "station").Type + ":" + output.NewAvatars.Single(a => a.Type == "station").Id);
        var dead = Assert.Single(output.DeadLetters);
        Assert.Contains("2 cells where the header has 5", dead.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_vehicle_moving_to_another_station_gets_a_new_link_and_staying_adds_none()
    {
        var avatars = new AvatarRegistry();
        var output = Run("line1", TestDefinitions.Messages(
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12),
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:16:00Z", 12),
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST050", "2026-11-26T08:20:00Z", 12)), avatars);

        Assert.Equal(3, output.Records.Count);
        Assert.Equal(["flins/assembly/L1/ST040", "flins/assembly/L1/ST050"],
            output.Links.Select(l => output.NewAvatars.Single(a => a.Key == l.ToKey).Id));
    }

    [Fact]
    public void A_custom_step_can_reject_a_record_which_becomes_a_dead_letter()
    {
        var output = Run("line1", TestDefinitions.Messages(
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12, "NOK"),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", "2026-11-26T08:15:00Z", 12, "OK")), steps: [new RejectNokStep()]);

        Assert.Equal(TestDefinitions.Vin2, Assert.Single(output.Records).AvatarId);
        var dead = Assert.Single(output.DeadLetters);
        Assert.Equal(DeadLetterStage.Step, dead.Stage);
        Assert.Equal("step 'no-nok': NOK results go to rework", dead.Reason);
    }

    private sealed class RejectNokStep : IPipelineStep
    {
        public string Name => "no-nok";

        public bool AppliesTo(Usine.Sources.SourceDefinition source, Usine.Models.DataModel model) => model.Name == "screwing";

        public string? Process(RecordDraft draft) => draft["status"].String == "NOK" ? "NOK results go to rework" : null;
    }
}
