using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Usine.Avatars;
using Usine.Configuration;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Simulator.Tests;

/// <summary>The simulator's messages go through the demo's own definitions exactly as the platform would run them.</summary>
public sealed class DemoPipelineTests
{
    private static readonly DateTimeOffset Start = new(2025, 3, 3, 6, 0, 0, TimeSpan.Zero);

    private static UsineDefinitions Demo() => DefinitionLoader.LoadFile(Repo.File("samples/demo/usine.yaml"));

    // What the pipeline must say about each way of breaking a message; stated here, apart from the simulator.
    private static DeadLetterStage ExpectedStage(BadKind bad) => bad == BadKind.Malformed ? DeadLetterStage.Decode : DeadLetterStage.Validate;

    private sealed record Routed(SimulatedMessage Message, RawMessage Raw, SourceDefinition Source);

    private sealed class Run
    {
        public required List<Routed> Routed { get; init; }
        public AvatarRegistry Avatars { get; } = new();
        public Dictionary<string, PipelineOutput> Outputs { get; } = [];
    }

    private static Run Process(UsineDefinitions defs, IReadOnlyList<SimulatedMessage> messages)
    {
        var mqtt = defs.Sources.Values.Where(s => s.Kind == "mqtt").ToList();
        var routed = new List<Routed>();
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            var matching = mqtt.Where(s => TopicFilter.Matches(s.Settings["topic"], m.Topic)).ToList();
            var source = Assert.Single(matching);
            routed.Add(new Routed(m, new RawMessage(i + 1, m.Time, m.Payload, m.Topic), source));
        }

        var run = new Run { Routed = routed };
        foreach (var group in routed.GroupBy(r => r.Source.Id))
        {
            var output = new PipelineOutput();
            new SourcePipeline(group.First().Source, defs).Process([.. group.Select(r => r.Raw)], "test", run.Avatars, output);
            run.Outputs[group.Key] = output;
        }

        return run;
    }

    [Theory]
    [InlineData(42, 0.01)]
    [InlineData(7, 0.01)]
    [InlineData(3, 0.3)]
    public void Every_good_message_becomes_a_record_and_every_bad_one_a_dead_letter_at_its_stage(int seed, double badRatio)
    {
        var defs = Demo();
        var sim = new PlantSimulator(new SimulatorOptions { Seed = seed, BadRatio = badRatio }, new FakeTimeProvider(Start));
        var messages = sim.Generate(5000);

        var run = Process(defs, messages);

        Assert.Equal(["machine-states", "process-values", "screwing"], run.Outputs.Keys.Order(StringComparer.Ordinal));
        foreach (var group in run.Routed.GroupBy(r => r.Source.Id))
        {
            var output = run.Outputs[group.Key];
            Assert.Equal(0, output.DuplicatesInBatch);
            var expectedDead = group.Where(r => r.Message.Bad is not null).ToDictionary(r => r.Raw.Position);
            var dead = output.DeadLetters.ToDictionary(d => d.Position);
            Assert.Equal(expectedDead.Keys.Order(), dead.Keys.Order());
            foreach (var (position, letter) in dead)
            {
                var bad = expectedDead[position].Message.Bad!.Value;
                Assert.True(ExpectedStage(bad) == letter.Stage, $"{group.Key} message {position} broken as {bad} failed at {letter.Stage}: {letter.Reason}");
            }

            Assert.Equal(group.Where(r => r.Message.Bad is null).Select(r => r.Raw.Position).Order(), output.Records.Select(r => r.Position).Order());
        }

        Assert.Equal(sim.Counters.BadMessages, run.Outputs.Values.Sum(o => o.DeadLetters.Count));
        Assert.Equal(5000, sim.Counters.Generated);
        var share = (double)sim.Counters.BadMessages / 5000;
        Assert.InRange(share, badRatio * 0.6, badRatio * 1.4);
    }

    [Fact]
    public void Each_way_of_breaking_a_message_is_reported_with_the_field_at_fault()
    {
        var defs = Demo();
        var sim = new PlantSimulator(new SimulatorOptions { Seed = 11, BadRatio = 0.5 }, new FakeTimeProvider(Start));
        var run = Process(defs, sim.Generate(3000));
        var reasons = run.Routed.Where(r => r.Message.Bad is not null)
            .Select(r => (r.Message.Kind, Bad: r.Message.Bad!.Value, run.Outputs[r.Source.Id].DeadLetters.Single(d => d.Position == r.Raw.Position).Reason))
            .ToList();

        // Every kind of message is broken in every way that applies to its model.
        Assert.Equal(6 + 5 + 4, reasons.Select(r => (r.Kind, r.Bad)).Distinct().Count());
        foreach (var (kind, bad, reason) in reasons)
        {
            var expected = (kind, bad) switch
            {
                (_, BadKind.Malformed) => "invalid JSON",
                (MessageKind.Screwing, BadKind.MissingField) => "field 'vin' is required but missing",
                (MessageKind.Screwing, BadKind.OutOfRange) => "field 'torque' = 250",
                (MessageKind.Screwing, BadKind.WrongType) => "field 'torque' = \"high\" is not a number",
                (MessageKind.Screwing, BadKind.UnknownEnum) => "field 'status'",
                (MessageKind.Screwing, BadKind.BadVin) => "field 'vin'",
                (MessageKind.MachineState, BadKind.MissingField) => "field 'machine' is required but missing",
                (MessageKind.MachineState, BadKind.OutOfRange) => "field 'cycle_count' = -1",
                (MessageKind.MachineState, BadKind.WrongType) => "field 'cycle_count' = \"many\" is not an integer",
                (MessageKind.MachineState, BadKind.UnknownEnum) => "field 'state'",
                (MessageKind.ProcessValue, BadKind.MissingField) => "field 'tag' is required but missing",
                (MessageKind.ProcessValue, BadKind.WrongType) => "field 'value' = \"high\" is not a number",
                (MessageKind.ProcessValue, BadKind.UnknownEnum) => "field 'quality'",
                _ => throw new InvalidOperationException($"{kind} should never be broken as {bad}"),
            };
            Assert.Contains(expected, reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Vehicles_become_avatars_linked_at_each_assembly_station_they_pass_in_order()
    {
        var defs = Demo();
        var sim = new PlantSimulator(new SimulatorOptions { Seed = 5 }, new FakeTimeProvider(Start));
        var run = Process(defs, sim.Generate(5000));
        var output = run.Outputs["screwing"];

        var good = run.Routed.Where(r => r.Source.Id == "screwing" && r.Message.Bad is null)
            .Select(r => (Vin: JsonDocument.Parse(r.Message.Payload).RootElement.GetProperty("VIN").GetString()!, Levels: r.Message.Topic.Split('/')))
            .ToList();
        var vins = good.Select(g => g.Vin).Distinct().ToList();
        Assert.True(vins.Count > 20, $"expected many vehicles in 5000 messages, got {vins.Count}");
        Assert.All(vins, v => Assert.True(Vin.IsValid(v), v));

        var vehicles = output.NewAvatars.Where(a => a.Type == "vehicle").ToList();
        Assert.Equal(vins.Order(StringComparer.Ordinal), vehicles.Select(a => a.Id).Order(StringComparer.Ordinal));

        var passages = 0;
        foreach (var vin in vins)
        {
            Assert.True(run.Avatars.TryGet("vehicle", vin, out var vehicleKey));
            var expectedStations = new List<long>();
            foreach (var g in good.Where(g => g.Vin == vin))
            {
                Assert.Equal("assembly", g.Levels[2]);
                Assert.True(run.Avatars.TryGet(AvatarTypes.Station, string.Join('/', g.Levels[1..5]), out var stationKey));
                if (expectedStations.Count == 0 || expectedStations[^1] != stationKey)
                {
                    expectedStations.Add(stationKey);
                }
            }

            var links = output.Links.Where(l => l.FromKey == vehicleKey).ToList();
            Assert.All(links, l => Assert.Equal("at", l.Kind));
            Assert.Equal(expectedStations, links.Select(l => l.ToKey));
            Assert.Equal(links.Select(l => l.At).Order(), links.Select(l => l.At));
            passages += links.Count;
        }

        // Vehicles move down the line: many of them are seen at more than one station.
        Assert.True(passages > vins.Count * 3 / 2, $"{passages} station passages for {vins.Count} vehicles");
    }

    [Fact]
    public void Machines_and_equipment_hang_off_their_station_in_the_plant_hierarchy()
    {
        var defs = Demo();
        var sim = new PlantSimulator(new SimulatorOptions { Seed = 9 }, new FakeTimeProvider(Start));
        var run = Process(defs, sim.Generate(3000));
        var created = run.Outputs.Values.SelectMany(o => o.NewAvatars).ToDictionary(a => a.Key);

        foreach (var r in run.Outputs["machine-states"].Records.Concat(run.Outputs["process-values"].Records))
        {
            var avatar = created[r.AvatarKey];
            var station = created[avatar.ParentKey];
            Assert.Equal(AvatarTypes.Station, station.Type);
            var line = created[station.ParentKey];
            var shop = created[line.ParentKey];
            var plant = created[shop.ParentKey];
            Assert.Equal((AvatarTypes.Line, AvatarTypes.Shop, AvatarTypes.Plant), (line.Type, shop.Type, plant.Type));
            Assert.Equal(r.Plant, plant.Id);
            Assert.StartsWith(r.Plant + "/", avatar.Id, StringComparison.Ordinal);

            // Machine ids are {line}-{station}-{code}: the avatar's station is the one in its id.
            var parts = avatar.Id[(r.Plant.Length + 1)..].Split('-');
            Assert.Equal($"{r.Plant}/{shop.Id.Split('/')[1]}/{parts[0]}/{parts[1]}", station.Id);
        }

        Assert.Equal(["douai", "flins", "valladolid"], created.Values.Where(a => a.Type == AvatarTypes.Plant).Select(a => a.Id).Order(StringComparer.Ordinal));
        Assert.Equal(["assembly", "body", "paint"], created.Values.Where(a => a.Type == AvatarTypes.Shop).Select(a => a.Id.Split('/')[1]).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Screwing_results_are_realistic_mostly_ok_around_the_station_nominal()
    {
        var defs = Demo();
        var sim = new PlantSimulator(new SimulatorOptions { Seed = 13, BadRatio = 0 }, new FakeTimeProvider(Start));
        var run = Process(defs, sim.Generate(5000));
        var model = defs.Models["screwing"].Latest;
        var records = run.Outputs["screwing"].Records;
        var status = model.IndexOf("status");
        var torque = model.IndexOf("torque");

        var nok = records.Count(r => r.Values[status].String == "NOK");
        Assert.InRange((double)nok / records.Count, 0.005, 0.05);

        // Within one station, OK results stay within 10% of their mean (the nominal), as a tolerance window does.
        var topics = run.Routed.ToDictionary(r => r.Raw.Position, r => r.Message.Topic);
        foreach (var byStation in records.Where(r => r.Values[status].String == "OK").GroupBy(r => topics[r.Position]))
        {
            var mean = byStation.Average(r => r.Values[torque].Double);
            Assert.All(byStation, r => Assert.InRange(r.Values[torque].Double, mean * 0.88, mean * 1.12));
        }
    }

    [Fact]
    public void The_payloads_have_the_shapes_the_demo_sources_map()
    {
        var sim = new PlantSimulator(new SimulatorOptions { Seed = 1, BadRatio = 0 }, new FakeTimeProvider(Start));
        var messages = sim.Generate(400);
        Assert.Equal(Start.UtcDateTime, messages[0].Time);
        Assert.Equal(Start.UtcDateTime.AddMilliseconds(5 * 399), messages[^1].Time);

        foreach (var kind in Enum.GetValues<MessageKind>())
        {
            var m = messages.First(x => x.Kind == kind);
            var levels = m.Topic.Split('/');
            Assert.Equal(6, levels.Length);
            Assert.Equal("usine", levels[0]);
            Assert.Contains(levels[1], new[] { "flins", "douai", "valladolid" });
            Assert.Matches("^ST[0-9]{3}$", levels[4]);
            var root = JsonDocument.Parse(m.Payload).RootElement;
            switch (kind)
            {
                case MessageKind.Screwing:
                    Assert.Equal("screwing", levels[5]);
                    Assert.Equal(17, root.GetProperty("VIN").GetString()!.Length);
                    Assert.InRange(root.GetProperty("spindle").GetInt32(), 1, 6);
                    Assert.Equal(m.Time, root.GetProperty("time").GetDateTime());
                    Assert.Equal(JsonValueKind.Number, root.GetProperty("result").GetProperty("torque").ValueKind);
                    Assert.Equal(JsonValueKind.Number, root.GetProperty("result").GetProperty("angle").ValueKind);
                    Assert.Contains(root.GetProperty("result").GetProperty("status").GetString(), new[] { "OK", "NOK" });
                    Assert.Matches("^P[0-9]+$", root.GetProperty("program").GetString()!);
                    break;
                case MessageKind.MachineState:
                    Assert.Equal("state", levels[5]);
                    Assert.Equal(new DateTimeOffset(m.Time).ToUnixTimeMilliseconds(), root.GetProperty("ts").GetInt64());
                    Assert.Contains(root.GetProperty("state").GetString(), new[] { "RUNNING", "IDLE", "STOPPED", "FAULT", "SETUP" });
                    Assert.Equal(JsonValueKind.String, root.GetProperty("reason").ValueKind);
                    Assert.True(root.GetProperty("cycles").GetInt64() >= 0);
                    Assert.StartsWith(levels[3] + "-" + levels[4] + "-", root.GetProperty("machine").GetString(), StringComparison.Ordinal);
                    break;
                default:
                    Assert.Equal("process", levels[5]);
                    Assert.Equal(m.Time, root.GetProperty("ts").GetDateTime());
                    Assert.Equal(JsonValueKind.Number, root.GetProperty("value").GetProperty("v").ValueKind);
                    Assert.Contains(root.GetProperty("value").GetProperty("q").GetString(), new[] { "GOOD", "UNCERTAIN", "BAD" });
                    Assert.False(string.IsNullOrEmpty(root.GetProperty("tag").GetString()));
                    Assert.False(string.IsNullOrEmpty(root.GetProperty("unit").GetString()));
                    break;
            }
        }
    }

    [Fact]
    public void The_same_seed_and_start_give_the_same_bytes_and_another_seed_does_not()
    {
        static List<string> Take(int seed) =>
            [.. new PlantSimulator(new SimulatorOptions { Seed = seed }, new FakeTimeProvider(Start)).Generate(2000).Select(m => m.Topic + " " + Encoding.UTF8.GetString(m.Payload))];

        Assert.Equal(Take(21), Take(21));
        Assert.NotEqual(Take(21), Take(22));
    }

    [Fact]
    public void Energy_files_go_through_the_energy_files_source()
    {
        var defs = Demo();
        var source = defs.Sources["energy-files"];
        var model = defs.ModelOf(source);
        var sim = new PlantSimulator(new SimulatorOptions { Seed = 17, BadRatio = 0.1, EnergyInterval = TimeSpan.FromSeconds(30) }, new FakeTimeProvider(Start));
        var avatars = new AvatarRegistry();
        var seen = new HashSet<BadKind>();
        var records = 0;
        for (var f = 1; f <= 40; f++)
        {
            var file = sim.NextEnergyFile();
            Assert.Equal(Start.UtcDateTime.AddSeconds(30 * f), file.Time);
            Assert.EndsWith(".csv", file.FileName, StringComparison.Ordinal);
            var lines = Encoding.UTF8.GetString(file.Content).Split('\n');
            Assert.Equal(EnergyFile.Header, lines[0]);
            Assert.Equal("", lines[^1]);
            var header = Csv.ParseRecord(lines[0], ',');
            var rows = lines[1..^1];
            Assert.Equal(file.RowBad.Count, rows.Length);
            var raws = rows.Select((line, i) => new RawMessage(i + 2, file.Time, Encoding.UTF8.GetBytes(line))).ToList();

            var output = new PipelineOutput();
            new SourcePipeline(source, defs).Process(raws, file.FileName, avatars, output, header);

            for (var i = 0; i < rows.Length; i++)
            {
                var position = i + 2;
                if (file.RowBad[i] is { } bad)
                {
                    seen.Add(bad);
                    var letter = Assert.Single(output.DeadLetters, d => d.Position == position);
                    Assert.Equal(bad == BadKind.Malformed ? DeadLetterStage.Decode : DeadLetterStage.Validate, letter.Stage);
                }
                else
                {
                    var letter = output.DeadLetters.FirstOrDefault(d => d.Position == position);
                    Assert.True(letter is null, $"good row '{rows[i]}' became a dead letter: {letter?.Stage} {letter?.Reason}");
                    var record = Assert.Single(output.Records, r => r.Position == position);
                    var cells = Csv.ParseRecord(rows[i], ',');
                    Assert.Equal(cells[0], record.Plant);
                    Assert.Equal($"{cells[0]}/{cells[1]}", record.AvatarId);
                    Assert.Equal(file.Time, record.EventTime);

                    // energy_wh is converted to kWh; power (kW) times the interval gives back the energy.
                    var kwh = record.Values[model.IndexOf("active_energy")].Double;
                    Assert.Equal(double.Parse(cells[3], System.Globalization.CultureInfo.InvariantCulture) / 1000, kwh, 9);
                    var kw = record.Values[model.IndexOf("power")].Double;
                    Assert.Equal(kw * 30 / 3600, kwh, kwh * 0.01);
                    records++;
                }
            }

            Assert.Equal(0, output.DuplicatesInBatch);
            Assert.Equal(rows.Length, output.Records.Count + output.DeadLetters.Count);
        }

        Assert.Equal([BadKind.Malformed, BadKind.MissingField, BadKind.OutOfRange, BadKind.WrongType], seen.Order());
        Assert.Equal(sim.Counters.EnergyRows - sim.Counters.BadEnergyRows, records);
        Assert.Equal(40, sim.Counters.EnergyFiles);
        foreach (var plant in new[] { "flins", "douai", "valladolid" })
        {
            var tag = plant.ToUpperInvariant();
            Assert.True(avatars.TryGet("meter", $"{plant}/{tag}-BODY-MAIN", out _), plant);
            Assert.True(avatars.TryGet("meter", $"{plant}/{tag}-A1-FEED", out _), plant);
        }
    }

    [Theory]
    [InlineData("mqtt://localhost", "BrokerUrl")]
    [InlineData("http://localhost:1883", "BrokerUrl")]
    public void Invalid_broker_urls_are_refused_with_an_example(string url, string param)
    {
        var ex = Assert.Throws<ArgumentException>(() => new PlantSimulator(new SimulatorOptions { BrokerUrl = new Uri(url) }));
        Assert.Equal(param, ex.ParamName);
        Assert.Contains("mqtt://127.0.0.1:1883", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_settings_are_refused_with_how_to_fix_them()
    {
        Assert.Equal("Plants", Assert.Throws<ArgumentException>(() => new PlantSimulator(new SimulatorOptions { Plants = ["a/b"] })).ParamName);
        Assert.Equal("Plants", Assert.Throws<ArgumentException>(() => new PlantSimulator(new SimulatorOptions { Plants = [] })).ParamName);
        Assert.Equal("Plants", Assert.Throws<ArgumentException>(() => new PlantSimulator(new SimulatorOptions { Plants = ["x", "x"] })).ParamName);
        Assert.Equal("BadRatio", Assert.Throws<ArgumentException>(() => new PlantSimulator(new SimulatorOptions { BadRatio = 1.5 })).ParamName);
        Assert.Equal("MessagesPerSecond", Assert.Throws<ArgumentException>(() => new PlantSimulator(new SimulatorOptions { MessagesPerSecond = 0 })).ParamName);
        Assert.Equal("EnergyInterval", Assert.Throws<ArgumentException>(() => new PlantSimulator(new SimulatorOptions { EnergyInterval = TimeSpan.Zero })).ParamName);
    }

    [Fact]
    public void Any_plant_names_work_and_each_gets_its_own_vin_plant_code()
    {
        var sim = new PlantSimulator(new SimulatorOptions { Plants = ["fa", "fb", "9z"], BadRatio = 0 }, new FakeTimeProvider(Start));
        var codes = sim.Generate(3000).Where(m => m.Kind == MessageKind.Screwing)
            .GroupBy(m => m.Topic.Split('/')[1])
            .ToDictionary(g => g.Key, g => g.Select(m => JsonDocument.Parse(m.Payload).RootElement.GetProperty("VIN").GetString()![10]).Distinct().Single());
        Assert.Equal(3, codes.Count);
        Assert.Equal(3, codes.Values.Distinct().Count());
    }
}
