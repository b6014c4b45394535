using Usine.Avatars;
using Usine.Models;

namespace Usine.Tests.Pipeline;

/// <summary>
/// Messages that used to throw inside the pipeline or to be stored altered: each becomes a dead letter with its
/// reason, between two good messages that are stored as usual.
/// </summary>
public sealed class PoisonMessageTests
{
    private static string Good(string station) => TestDefinitions.Screwing(TestDefinitions.Vin1, station, "2026-11-26T08:15:00Z", 12.5);

    private static PipelineOutput RunBetweenGoodOnes(byte[] poison, string sourceId = "line1", UsineDefinitions? definitions = null, IEnumerable<IPipelineStep>? steps = null)
    {
        var defs = definitions ?? TestDefinitions.Load();
        var pipeline = new SourcePipeline(defs.Sources[sourceId], defs, steps);
        var at = new DateTime(2026, 11, 26, 10, 0, 0, DateTimeKind.Utc);
        var output = new PipelineOutput();
        pipeline.Process(
            [new RawMessage(1, at, Encoding.UTF8.GetBytes(Good("ST010"))), new RawMessage(2, at, poison), new RawMessage(3, at, Encoding.UTF8.GetBytes(Good("ST030")))],
            "test", new AvatarRegistry(), output);
        return output;
    }

    private static DeadLetter OnlyThePoisonIsDead(PipelineOutput output, string stage, string reason)
    {
        Assert.Equal(["ST010", "ST030"], output.Records.Select(r => r.Values[r.Model.IndexOf("station")].String));
        var dead = Assert.Single(output.DeadLetters);
        Assert.Equal(2, dead.Position);
        Assert.Equal(stage, dead.Stage.ToString().ToLowerInvariant());
        Assert.Contains(reason, dead.Reason, StringComparison.Ordinal);
        return dead;
    }

    private static byte[] Screwing(string vinJson, string stationJson = "\"ST020\"", string torqueJson = "12") =>
        Encoding.UTF8.GetBytes("{\"VIN\":" + vinJson + ",\"station\":" + stationJson + ",\"time\":\"2026-11-26T08:15:00Z\",\"result\":{\"torque\":" + torqueJson + ",\"status\":\"OK\"}}");

    [Theory]
    [InlineData("\"sur-\\ud800x\"", "\"ST020\"", "$.VIN")]
    [InlineData("\"VF1AAAAA111111111\"", "\"ST\\uDC00\"", "$.station")]
    public void A_string_with_an_unpaired_surrogate_escape_is_a_dead_letter_naming_where_it_is(string vin, string station, string path)
    {
        var dead = OnlyThePoisonIsDead(RunBetweenGoodOnes(Screwing(vin, station)), "decode", "unpaired surrogate escape");
        Assert.Contains($"the text at {path} ", dead.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_surrogate_pair_written_as_two_escapes_is_text_like_any_other()
    {
        var output = RunBetweenGoodOnes(Screwing("\"VF1AAAAA111111111\"", "\"ST\\ud83d\\ude00\""));

        Assert.Empty(output.DeadLetters);
        Assert.Contains(output.Records, r => r.Values[r.Model.IndexOf("station")].String == "ST\U0001F600");
    }

    [Fact]
    public void Invalid_utf8_is_a_dead_letter_with_the_offset_of_the_bad_byte_never_replacement_characters()
    {
        var payload = Screwing("\"VF1AAAAA111111111\"", "\"ST\u00e9\"");
        var at = Array.IndexOf(payload, (byte)0xC3);
        payload[at + 1] = 0x28; // 0xC3 must be followed by a continuation byte

        var dead = OnlyThePoisonIsDead(RunBetweenGoodOnes(payload), "decode", $"payload is not valid UTF-8: byte 0xC3 at offset {at}");
        Assert.Equal(payload, dead.Payload.ToArray());
    }

    [Fact]
    public void A_nul_character_is_refused_rather_than_cut()
    {
        OnlyThePoisonIsDead(RunBetweenGoodOnes(Screwing("\"VF1AAAAA111111111\"", "\"ctl-\\u0000tail\"")), "validate",
            "field 'station' holds a NUL character (U+0000) at index 4");
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("\"1e400\"")]
    public void A_number_beyond_the_range_of_a_double_is_refused_not_stored_as_infinity(string torque)
    {
        // torque has a range in this model; the second model below has none, which is where infinity got through.
        var yaml = TestDefinitions.Yaml.Replace("torque:  { type: double, unit: Nm, min: 0, max: 200, required: true }", "torque:  { type: double, unit: Nm, required: true }", StringComparison.Ordinal);
        Assert.NotEqual(TestDefinitions.Yaml, yaml);
        var output = RunBetweenGoodOnes(Screwing("\"VF1AAAAA111111111\"", torqueJson: torque), definitions: DefinitionLoader.LoadText(yaml, "test.yaml"));

        OnlyThePoisonIsDead(output, "validate", "is not a finite number");
    }

    [Fact]
    public void Duplicate_keys_are_a_dead_letter_instead_of_the_last_one_winning()
    {
        var payload = Encoding.UTF8.GetBytes("{\"VIN\":\"VF1AAAAA111111111\",\"station\":\"ST020\",\"time\":\"2026-11-26T08:15:00Z\",\"result\":{\"torque\":12,\"torque\":250,\"status\":\"OK\"}}");

        var dead = OnlyThePoisonIsDead(RunBetweenGoodOnes(payload), "decode", "invalid JSON: ");
        Assert.Contains("torque", dead.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_utf8_byte_order_mark_at_the_start_is_skipped()
    {
        var payload = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Screwing("\"VF1AAAAA111111111\"")).ToArray();
        var output = RunBetweenGoodOnes(payload);

        Assert.Empty(output.DeadLetters);
        Assert.Equal(3, output.Records.Count);
    }

    [Fact]
    public void A_pattern_that_times_out_makes_a_dead_letter_saying_so()
    {
        // A lookahead keeps the backtracking engine, and nested quantifiers make it exponential on a near miss.
        var yaml = TestDefinitions.Yaml.Replace("station: { type: string, required: true }", "station: { type: string, required: true, pattern: \"^(?=S)(S|T|ST|[0-9]+)+$\" }", StringComparison.Ordinal);
        Assert.NotEqual(TestDefinitions.Yaml, yaml);
        var slow = "ST" + string.Concat(Enumerable.Repeat("0123456789", 4)) + "!";

        var dead = OnlyThePoisonIsDead(RunBetweenGoodOnes(Screwing("\"VF1AAAAA111111111\"", "\"" + slow + "\""), definitions: DefinitionLoader.LoadText(yaml, "test.yaml")),
            "validate", "field 'station' = ");
        Assert.Contains("took over 100 ms on this value", dead.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_exception_at_any_stage_becomes_a_dead_letter_at_that_stage_and_the_batch_goes_on()
    {
        // A step that leaves an impossible event time: the exception comes from contextualization, after the step.
        var output = RunBetweenGoodOnes(Screwing("\"VF1AAAAA111111111\"", "\"ST666\""), steps: [new CorruptTime("ST666")]);

        var dead = OnlyThePoisonIsDead(output, "contextualize", "unexpected error (ArgumentOutOfRangeException)");
        Assert.Equal(nameof(ArgumentOutOfRangeException), dead.ErrorType);
    }

    [Fact]
    public void A_step_that_throws_for_one_message_rejects_that_message_only()
    {
        var output = RunBetweenGoodOnes(Screwing("\"VF1AAAAA111111111\"", "\"ST666\""), steps: [new ThrowOn("ST666")]);

        OnlyThePoisonIsDead(output, "step", "step 'throw-on-ST666' failed: station ST666 is cursed");
    }

    /// <summary>Throws for the messages of one station; passes every other.</summary>
    internal sealed class ThrowOn(string station) : IPipelineStep
    {
        public string Name => "throw-on-" + station;

        public bool AppliesTo(SourceDefinition source, DataModel model) => model.IndexOf("station") >= 0;

        public string? Process(RecordDraft draft) =>
            draft["station"].String == station ? throw new InvalidOperationException($"station {station} is cursed") : null;
    }

    private sealed class CorruptTime(string station) : IPipelineStep
    {
        public string Name => "corrupt-time";

        public bool AppliesTo(SourceDefinition source, DataModel model) => true;

        public string? Process(RecordDraft draft)
        {
            if (draft["station"].String == station)
            {
                draft["ts"] = FieldValue.FromInt(-1);
            }

            return null;
        }
    }
}
