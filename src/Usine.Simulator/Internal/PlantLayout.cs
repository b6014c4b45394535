namespace Usine.Simulator.Internal;

/// <summary>A plant of the simulation: its lines, meters and the vehicles it builds.</summary>
internal sealed class SimPlant(string name, char plantCode, string[] descriptors)
{
    public string Name { get; } = name;
    public char PlantCode { get; } = plantCode;
    public string[] Descriptors { get; } = descriptors;
    public List<SimLine> Lines { get; } = [];
    public List<SimMeter> Meters { get; } = [];
    public int NextSerial { get; set; }
}

internal sealed class SimLine(SimPlant plant, string shop, string name)
{
    public SimPlant Plant { get; } = plant;
    public string Shop { get; } = shop;
    public string Name { get; } = name;
    public List<SimStation> Stations { get; } = [];

    /// <summary>The VIN at each station, in station order; assembly lines only.</summary>
    public string?[] VehicleAt { get; set; } = [];
}

internal sealed class SimStation(SimLine line, string name)
{
    public SimLine Line { get; } = line;
    public string Name { get; } = name;
    public List<SimMachine> Machines { get; } = [];

    /// <summary>Spindles of the station's nutrunner; 0 where nothing is screwed.</summary>
    public int Spindles { get; init; }
    public string Program { get; init; } = "";
    public double NominalTorque { get; init; }
    public double NominalAngle { get; init; }

    /// <summary>Topic without its last level: <c>{prefix}/{plant}/{shop}/{line}/{station}</c>.</summary>
    public string TopicBase { get; set; } = "";
}

internal enum MachineState
{
    Running,
    Idle,
    Stopped,
    Fault,
    Setup,
}

internal sealed class SimMachine(SimStation station, string id)
{
    public SimStation Station { get; } = station;
    public string Id { get; } = id;
    public MachineState State { get; set; } = MachineState.Running;
    public long Cycles { get; set; }
    public List<SimTag> Tags { get; } = [];
}

/// <summary>A process value that wanders around its nominal value and is pulled back to it.</summary>
internal sealed class SimTag(string name, string unit, double nominal, double spread)
{
    public string Name { get; } = name;
    public string Unit { get; } = unit;
    public double Nominal { get; } = nominal;
    public double Spread { get; } = spread;
    public double Current { get; set; } = nominal;
}

internal sealed class SimMeter(SimPlant plant, string id, double nominalKw)
{
    public SimPlant Plant { get; } = plant;
    public string Id { get; } = id;
    public double NominalKw { get; } = nominalKw;
}

/// <summary>Builds the plants from the seed: the same options always give the same layout.</summary>
internal static class PlantLayout
{
    // Vehicle descriptors (VIN characters 4 to 8) of the models each plant builds.
    private static readonly string[] AllDescriptors = ["BJA1E", "RFB9E", "DJF4C", "HJB2K", "XJA7M", "LZR5T", "KRT3N", "JMZ8W"];
    private static readonly double[] Torques = [12, 25, 45, 60, 110, 135];

    public static List<SimPlant> Build(IReadOnlyList<string> plants, Random rng, string prefix)
    {
        var result = new List<SimPlant>();
        var usedCodes = new HashSet<char>();
        foreach (var name in plants)
        {
            var code = char.ToUpperInvariant(name[0]);
            if (!Vin.Alphabet.Contains(code, StringComparison.Ordinal) || char.IsDigit(code) || !usedCodes.Add(code))
            {
                code = Vin.Alphabet.First(c => char.IsLetter(c) && !usedCodes.Contains(c));
                usedCodes.Add(code);
            }

            var plant = new SimPlant(name, code, [.. AllDescriptors.OrderBy(_ => rng.Next()).Take(2)])
            {
                NextSerial = rng.Next(100_000, 400_000),
            };

            var bodyLines = rng.Next(1, 3);
            for (var l = 1; l <= bodyLines; l++)
            {
                var line = new SimLine(plant, "body", "B" + l);
                for (var s = 1; s <= 8; s++)
                {
                    var st = new SimStation(line, StationName(s));
                    if (s <= 2)
                    {
                        Add(st, "PR1", new SimTag("oil_temp", "degC", 45 + rng.Next(-3, 4), 2), new SimTag("pressure", "bar", 180 + rng.Next(-10, 11), 5));
                    }

                    var robots = rng.Next(2, 5);
                    for (var r = 1; r <= robots; r++)
                    {
                        Add(st, "R" + r, new SimTag("motor_temp", "degC", 50 + rng.Next(0, 10), 3));
                    }

                    Add(st, "CV1", new SimTag("speed", "m/min", 6, 0.3));
                    line.Stations.Add(st);
                }

                plant.Lines.Add(line);
            }

            var paint = new SimLine(plant, "paint", "P1");
            for (var s = 1; s <= 6; s++)
            {
                var st = new SimStation(paint, StationName(s));
                if (s == 6)
                {
                    Add(st, "OV1", new SimTag("oven_temp", "degC", 180, 1.5), new SimTag("humidity", "%RH", 35, 2));
                }
                else
                {
                    Add(st, "R1", new SimTag("paint_flow", "ml/min", 300 + rng.Next(-20, 21), 8));
                    Add(st, "R2", new SimTag("paint_flow", "ml/min", 300 + rng.Next(-20, 21), 8));
                }

                Add(st, "CV1", new SimTag("speed", "m/min", 4, 0.2));
                paint.Stations.Add(st);
            }

            plant.Lines.Add(paint);

            var assemblyLines = rng.Next(1, 3);
            for (var l = 1; l <= assemblyLines; l++)
            {
                var line = new SimLine(plant, "assembly", "A" + l);
                for (var s = 1; s <= 12; s++)
                {
                    var st = new SimStation(line, StationName(s))
                    {
                        Spindles = rng.Next(1, 7),
                        Program = "P" + rng.Next(10, 40),
                        NominalTorque = Torques[rng.Next(Torques.Length)],
                        NominalAngle = 360 + (90 * rng.Next(0, 13)),
                    };

                    Add(st, "NR1", new SimTag("motor_current", "A", 8, 0.8));
                    Add(st, "CV1", new SimTag("speed", "m/min", 5, 0.2));
                    line.Stations.Add(st);
                }

                line.VehicleAt = new string?[line.Stations.Count];
                plant.Lines.Add(line);
            }

            // Meter ids carry the plant: the energy model's natural key is (meter, ts), and every plant's meters
            // are read at the same instant.
            var tag = name.ToUpperInvariant();
            foreach (var shop in new[] { "BODY", "PAINT", "ASSY" })
            {
                plant.Meters.Add(new SimMeter(plant, $"{tag}-{shop}-MAIN", shop == "PAINT" ? 1200 : 700 + rng.Next(0, 200)));
            }

            foreach (var line in plant.Lines)
            {
                plant.Meters.Add(new SimMeter(plant, $"{tag}-{line.Name}-FEED", 100 + rng.Next(0, 200)));
            }

            foreach (var line in plant.Lines)
            {
                foreach (var st in line.Stations)
                {
                    st.TopicBase = $"{prefix}/{plant.Name}/{line.Shop}/{line.Name}/{st.Name}";
                }
            }

            result.Add(plant);
        }

        return result;
    }

    private static string StationName(int index) => "ST" + (index * 10).ToString("D3", System.Globalization.CultureInfo.InvariantCulture);

    private static void Add(SimStation station, string code, params SimTag[] tags)
    {
        var m = new SimMachine(station, $"{station.Line.Name}-{station.Name}-{code}");
        m.Tags.AddRange(tags);
        station.Machines.Add(m);
    }
}
